"""The backends root as etcd holds it, followed by one watch without gaps: `BackendsFollower` owns the copy.

It reads the root whole (a consumer needs every service), then watches it from the next revision on; a watch
interrupted (etcd away, a member gone) resumes from the last revision seen, so no change is missed. A watch
that fell behind compaction reads the root whole again. While etcd is away the copy stays as it was."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.adapters.etcd import PAGE_SIZE, Etcd
from agent.adapters.etcd_errors import EtcdError
from agent.core.kv import KeyValue, WatchEvent
from agent.core.messages import KeysChanged, Message
from agent.retry import WATCH, Backoff
from agent.runtime.keywatcher import KeyWatcher

log = logging.getLogger(__name__)


class BackendsFollower:
    def __init__(self, etcd: Etcd, root: str, changed: Callable[[], None], page_size: int = PAGE_SIZE) -> None:
        self._etcd = etcd
        self._page_size = page_size
        self._prefix = root + "/"
        self._changed = changed
        self.keys: dict[str, KeyValue] = {}
        self.read_at = 0  # the revision of the last whole read: the copy holds every change up to it
        self.revision = 0  # the latest change the copy holds
        self._watcher: KeyWatcher | None = None

    @property
    def following(self) -> bool:
        """Whether the watch follows etcd now (False before it runs, and while etcd does not answer it)."""
        return self._watcher is not None and not self._watcher.interrupted

    def load(self) -> int:
        """Read the root whole, in pages at one revision (one answer for a whole root of a big fleet would be
        too big to wait for, issue 25); the revision it was read at. The copy changes only once it is read."""
        keys: dict[str, KeyValue] = {}
        revision = 0
        for page, revision in self._etcd.pages(self._prefix, limit=self._page_size):  # noqa: B007 - the revision of the last page
            keys.update((kv.key, kv) for kv in page)
        self.keys = keys
        self.read_at = self.revision = revision
        log.info("read %d keys under %s at revision %d", len(keys), self._prefix, revision)
        return revision

    def run(self) -> None:
        self._watcher = KeyWatcher(self._etcd, self._prefix, self._take, self.revision + 1)
        self._watcher.run()

    def _take(self, message: Message) -> None:
        if isinstance(message, KeysChanged):
            for event in message.events:
                self._apply(event)
        else:  # the watch fell behind compaction: what it missed is only in a new read
            self._reload()
        self._changed()

    def _apply(self, event: WatchEvent) -> None:
        """One change, unless the copy was read after it (a read after compaction, then the events from the
        compaction on)."""
        if event.mod_revision <= self.read_at:
            return
        if event.deleted:
            self.keys.pop(event.key, None)
        else:
            self.keys[event.key] = KeyValue(event.key, event.value, event.lease, event.mod_revision,
                                            event.create_revision)
        self.revision = max(self.revision, event.mod_revision)

    def _reload(self) -> None:
        retry = Backoff(WATCH)
        while True:
            try:
                self.load()
                return
            except EtcdError as exc:
                log.warning("cannot read %s again (%s); the routes stay as they are", self._prefix, exc)
            retry.wait()
