"""`service-registrator [run|settings|check|healthcheck]`: the agent and its one-shot commands. agent/cli.py calls
`load`, then `run`, as for `discover` and `status`."""

from __future__ import annotations

from agent.daemon.settings import Config, load

__all__ = ["load", "run"]


def run(config: Config) -> int:
    """The agent's own commands: check, healthcheck, --dry-run, the agent."""
    if config.command == "settings":
        from agent.daemon.check import settings

        return settings(config)
    if config.command == "check":
        from agent.daemon.check import check

        return check(config)
    if config.command == "healthcheck":
        from agent.daemon.check import healthcheck

        return healthcheck(config)
    if config.dry_run:
        from agent.daemon.dryrun import dry_run

        return dry_run(config)
    from agent.daemon.app import Agent

    return Agent(config).run()
