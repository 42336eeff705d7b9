"""Self-healing watches: a `KeyWatcher` greenlet follows one prefix (or key) without gaps; the `WatchSet`
keeps one per prefix this host must heal, as the writer asks (SPEC §6: never a layout root whole)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.commands import Command, KeysChanged, Resync
from agent.etcd import Etcd
from agent.etcderrors import EtcdRequestError, EtcdUnavailable
from agent.kv import WatchReply
from agent.retry import WATCH, Backoff

log = logging.getLogger(__name__)


class KeyWatcher:
    def __init__(self, etcd: Etcd, prefix: str, submit: Callable[[Command], None], start_revision: int) -> None:
        self._etcd = etcd
        self._prefix = prefix
        self._submit = submit
        self._next_revision = start_revision

    def run(self) -> None:
        retry = Backoff(WATCH)
        while True:
            reason = "the stream ended"
            try:
                for reply in self._etcd.watch(self._prefix, self._next_revision):
                    if retry.failures:
                        log.info("watch on %s resumed from revision %d", self._prefix, self._next_revision)
                    retry.reset()
                    if not self._take(reply):
                        break
            except (EtcdUnavailable, EtcdRequestError) as exc:
                reason = str(exc)
            if not retry.failures:
                log.warning("watch on %s interrupted (%s); resuming from revision %d", self._prefix, reason,
                            self._next_revision)
            retry.wait()

    def _take(self, reply: WatchReply) -> bool:
        """Handle one reply; False when the watch ended and must be opened again."""
        if reply.compact_revision:
            log.warning("watch on %s fell behind compaction (revision %d < %d); comparing in full", self._prefix,
                        self._next_revision, reply.compact_revision)
            self._next_revision = reply.compact_revision
            self._submit(Resync("watch compacted"))
            return False
        if reply.canceled:
            return False
        if reply.events:
            self._next_revision = reply.events[-1].mod_revision + 1
            self._submit(KeysChanged(reply.events))
        elif reply.revision and not reply.created:  # a progress notice: everything up to it was seen
            self._next_revision = max(self._next_revision, reply.revision + 1)
        return True


Spawn = Callable[[str, Callable[[], None]], None]


class WatchSet:
    """One KeyWatcher greenlet per prefix the writer wants healed; prefixes no longer wanted stop."""

    def __init__(self, etcd: Etcd, submit: Callable[[Command], None], spawn: Spawn,
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
