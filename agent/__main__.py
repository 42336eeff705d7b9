"""Entry point. gevent must patch the standard library before requests or docker are imported."""

import importlib.metadata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gevent import monkey


@contextmanager
def entry_points_read_once() -> Iterator[None]:
    """Meanwhile every lookup of installed entry points is answered from one read: gevent looks for plugins at
    each of the 25 steps of `patch_all`, each lookup a read of every installed package's metadata (a fifth of a
    second of every command's start, measured)."""
    lookup = importlib.metadata.entry_points
    found = lookup()

    def select(**selection: Any) -> Any:
        return found.select(**selection) if selection else found

    importlib.metadata.entry_points = select
    try:
        yield
    finally:
        importlib.metadata.entry_points = lookup


with entry_points_read_once():
    monkey.patch_all()

import sys  # noqa: E402


def main() -> None:
    from agent.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
