"""Command line: parse the configuration, set up logging, run the agent or a command beside it; exit codes 0, 1,
2 (a bad setting)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.config import Config, ConfigError, load
from agent.logs import setup_logging

# commands of their own beside the agent, each with its own settings: modules with `load` and `run`
TOOLS = {"discover": "agent.discover.main", "status": "agent.status.main"}


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] in TOOLS:
        module = importlib.import_module(TOOLS[argv[0]])
        return launch(f"service-registrator {argv[0]}", module.load, module.run, argv[1:])
    return launch("service-registrator", load, run, argv)


def launch(prog: str, load_config: Callable[[Sequence[str], Mapping[str, str]], Any],
           run_config: Callable[[Any], int], argv: Sequence[str]) -> int:
    """Load the settings (a bad one: one line, exit 2), set up logging, run."""
    try:
        config = load_config(argv, os.environ)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
    return run_config(config)


def run(config: Config) -> int:
    """The agent's own commands: check, healthcheck, --dry-run, the agent."""
    if config.command == "check":
        from agent.check import check

        return check(config)
    if config.command == "healthcheck":
        from agent.check import healthcheck

        return healthcheck(config)
    if config.dry_run:
        from agent.dryrun import dry_run

        return dry_run(config)
    from agent.app import Agent

    return Agent(config).run()
