"""`KeyWatcher`: a greenlet that follows one etcd prefix (or key) without gaps, for the agent's self-healing
watches (agent/daemon/watches.py) and `discover`'s copy of the backends root. An interrupted watch resumes from
the last revision seen; one that fell behind compaction asks for a full read."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError, WatchSilent
from agent.core.kv import WatchReply
from agent.core.messages import KeysChanged, Message, Resync
from agent.retry import WATCH, Backoff

log = logging.getLogger(__name__)


class KeyWatcher:
    def __init__(self, etcd: Etcd, prefix: str, submit: Callable[[Message], None], start_revision: int) -> None:
        self._etcd = etcd
        self.prefix = prefix
        self._submit = submit
        self._next_revision = start_revision
        self.interrupted = False  # etcd did not answer the watch: true from the failure until a reply comes

    def run(self) -> None:
        retry = Backoff(WATCH)
        while True:
            reason = "the stream ended"
            try:
                for reply in self._etcd.watch(self.prefix, self._next_revision):
                    if not self._take(reply):
                        break
                    if retry.failures:  # a reply that is not the end of the watch: it runs again
                        log.info("watch on %s resumed from revision %d", self.prefix, self._next_revision)
                    retry.reset()
                    self.interrupted = False
            except WatchSilent:
                log.debug("watch on %s was silent; opened again from revision %d", self.prefix, self._next_revision)
                continue
            except EtcdError as exc:
                reason = str(exc)
            self.interrupted = True
            if not retry.failures:
                log.warning("watch on %s interrupted (%s); resuming from revision %d", self.prefix, reason,
                            self._next_revision)
            retry.wait()

    def _take(self, reply: WatchReply) -> bool:
        """Handle one reply; False when the watch ended and must be opened again."""
        if reply.compact_revision:
            log.warning("watch on %s fell behind compaction (revision %d < %d); comparing in full", self.prefix,
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
