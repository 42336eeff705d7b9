"""Command line: the first word picks the command (the agent by default, `discover`, `status`); each has a module
with `load` (its settings: a bad one is one line and exit 2) and `run`; logging is set up between the two.
Exit codes 0, 1, 2 (a bad setting)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.logs import setup_logging
from agent.settings import ConfigError

AGENT = "agent.daemon.main"
BESIDE = {"discover": "agent.discover.main", "status": "agent.status.main"}  # commands beside the agent


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] in BESIDE:
        module = importlib.import_module(BESIDE[argv[0]])
        return launch(f"service-registrator {argv[0]}", module.load, module.run, argv[1:])
    module = importlib.import_module(AGENT)
    return launch("service-registrator", module.load, module.run, argv)


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
