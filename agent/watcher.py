"""The KeyWatcher greenlet: follows every change under one prefix, without gaps, for self-healing."""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent

from agent.commands import Command, KeysChanged, Resync
from agent.etcd import Etcd, EtcdRequestError, EtcdUnavailable, WatchReply

log = logging.getLogger(__name__)

MAX_RECONNECT_DELAY = 1.0  # etcd back => watching again within a second


class KeyWatcher:
    def __init__(self, etcd: Etcd, prefix: str, submit: Callable[[Command], None]) -> None:
        self._etcd = etcd
        self._prefix = prefix
        self._submit = submit
        self._next_revision = 0

    def start_revision(self) -> int:
        """Fix the revision the watch starts from (a snapshot taken now): nothing after it is missed."""
        self._next_revision = self._etcd.revision(self._prefix) + 1
        return self._next_revision

    def run(self) -> None:
        delay, failing = 0.1, False
        while True:
            try:
                if not self._next_revision:
                    self.start_revision()
                for reply in self._etcd.watch(self._prefix, self._next_revision):
                    if failing:
                        log.info("watch on %s resumed from revision %d", self._prefix, self._next_revision)
                    delay, failing = 0.1, False
                    if not self._take(reply):
                        break
            except (EtcdUnavailable, EtcdRequestError) as exc:
                if not failing:
                    log.warning("watch on %s interrupted (%s); resuming from revision %d", self._prefix, exc,
                                self._next_revision)
                failing = True
            gevent.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY)

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
