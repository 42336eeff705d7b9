"""Command line: parse the configuration, set up logging, run the agent; exit codes 0, 1, 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from agent.config import ConfigError, load
from agent.logs import setup_logging


def main(argv: Sequence[str]) -> int:
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
