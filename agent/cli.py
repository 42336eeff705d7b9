"""Command line: parse the configuration, set up logging, run the agent; exit codes 0, 1, 2."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from agent.config import ConfigError, load
from agent.logs import setup_logging

TOOLS = ("discover", "status")  # commands of their own beside the agent, each with its own settings


def tool(name: str) -> Callable[[Sequence[str]], int]:
    """The `main` of `discover` (agent/discover/main.py) or `status` (agent/status/main.py)."""
    module = importlib.import_module(f"agent.{name}.main")
    return module.main


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] in TOOLS:
        return tool(argv[0])(argv[1:])
    try:
        config = load(argv, os.environ)
    except ConfigError as exc:
        print(f"service-registrator: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
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
