"""The self-healing watches: the `WatchSet` keeps one `KeyWatcher` greenlet per prefix this host must heal, as
the writer asks (SPEC §6: never a layout root whole)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.adapters.etcd import Etcd
from agent.core.messages import Message
from agent.runtime.keywatcher import KeyWatcher

log = logging.getLogger(__name__)


Spawn = Callable[[str, Callable[[], None]], None]


class WatchSet:
    """One KeyWatcher greenlet per prefix the writer wants healed; prefixes no longer wanted stop."""

    def __init__(self, etcd: Etcd, submit: Callable[[Message], None], spawn: Spawn,
                 kill: Callable[[str], None]) -> None:
        self._etcd = etcd
        self._submit = submit
        self._spawn = spawn
        self._kill = kill
        self._prefixes: set[str] = set()

    def follow(self, prefixes: set[str], from_revision: int) -> None:
        """Watch exactly `prefixes`; new ones from `from_revision` on (nothing written since is missed)."""
        for prefix in self._prefixes - prefixes:
            self._kill(f"watch {prefix}")
            log.debug("no longer watching %s", prefix)
        for prefix in sorted(prefixes - self._prefixes):
            watcher = KeyWatcher(self._etcd, prefix, self._submit, from_revision)
            self._spawn(f"watch {prefix}", watcher.run)
            log.debug("watching %s from revision %d", prefix, from_revision)
        self._prefixes = set(prefixes)


def follow_nothing(prefixes: set[str], from_revision: int) -> None:
    """--once: nothing is watched."""
