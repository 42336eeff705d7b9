"""`LiveRegistry`: the greenlet behind the web page. It reads the roots in pages at one revision (as `status`
does, agent/status/read.py, but the backends root with its values: the page shows addresses), then follows them
with one `KeyWatcher` per root from the revision after, applying every event, deletes included, to its `Mirror`.
After each burst of changes (and every REFRESH seconds, for the leases' TTL left) it publishes a new `Snapshot`;
`wait_newer` is how the page's long polls learn of it.

An operator's tool: it holds the whole registry (see docs/benchmarks.md for its cost at 1,000 hosts)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import gevent
import gevent.event
import gevent.queue

from agent.adapters.etcd import Etcd
from agent.core.kv import LeaseInfo
from agent.core.messages import KeysChanged, Message, Resync
from agent.retry import WATCH, Backoff
from agent.runtime.keywatcher import KeyWatcher
from agent.status.live.mirror import Mirror
from agent.status.live.snapshot import Snapshot, snapshot_of
from agent.status.read import Range, paged, ranges
from agent.status.report import marker_leases
from agent.status.settings import StatusConfig

log = logging.getLogger(__name__)

REFRESH = 10.0  # seconds between two asks of every marker's lease (the TTL left moves on), each with a snapshot
BURST = 0.1  # seconds: changes coming together (a container's keys, a host's start) make one snapshot


def live_ranges(config: StatusConfig) -> tuple[Range, ...]:
    """What `status` reads, the backends root with its values."""
    return tuple(replace(item, keys_only=False) if item.prefix == config.backends_dir + "/" else item
                 for item in ranges(config))


class LiveRegistry:
    def __init__(self, etcd: Etcd, config: StatusConfig, unreadable: tuple[type[Exception], ...],
                 sleep: Callable[[float], None] = gevent.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self._etcd = etcd
        self._config = config
        self._unreadable = unreadable
        self._sleep = sleep
        self._clock = clock
        self._inbox: gevent.queue.Queue[Message] = gevent.queue.Queue()
        self._watchers: list[gevent.Greenlet] = []
        self._watching: list[KeyWatcher] = []
        self._published = gevent.event.Event()
        self._leases: dict[int, LeaseInfo] = {}
        self._leases_asked = 0.0  # the clock when every marker's lease was last asked
        self.mirror = Mirror(config.etcd_dir)
        self.snapshot = Snapshot.empty()
        self.read_keys = 0  # keys read so far by the current full read (the page shows it while it lasts)
        self.problem = ""  # why etcd could not be read at the last try; "" when it could

    def run(self) -> None:
        retry = Backoff(WATCH)
        while True:
            try:
                self._load()
            except self._unreadable as exc:
                self.problem = f"cannot read etcd: {exc}"
                log.warning("%s; trying again", self.problem)
                retry.wait()
                continue
            retry.reset()
            self._follow()

    def stop(self) -> None:
        self._stop_watchers()

    @property
    def trouble(self) -> str:
        """What the page should warn of: etcd not read at the last try, or a watch interrupted (the page shows
        the registry as of its revision until the watch resumes); "" when all is well."""
        stalled = sorted(watcher.prefix for watcher in self._watching if watcher.interrupted)
        if self.problem or not stalled:
            return self.problem
        return f"etcd does not answer the watch on {', '.join(stalled)}: showing revision {self.mirror.revision}"

    def wait_newer(self, version: int, timeout: float) -> Snapshot:
        """The snapshot after `version`, once there is one, or the current one after `timeout` seconds."""
        if self.snapshot.version <= version:
            self._published.wait(timeout)
        return self.snapshot

    # -- reading and following --------------------------------------------------------------------------
    def _load(self) -> None:
        started = self._clock()
        self._stop_watchers()
        self.read_keys, revision = 0, 0
        self.mirror.reset()  # the snapshot shown stays until the new read is whole
        followed = live_ranges(self._config)
        for page, at in paged(self._etcd, followed, self._config.page_size):
            self.mirror.add(page)
            self.read_keys, revision = len(self.mirror), at
        self.mirror.revision = revision
        self._leases = {}
        self._publish(every_lease=True)
        log.info("read %d keys at revision %d in %.1fs; following them", len(self.mirror), revision,
                 self._clock() - started)
        for where in followed:
            watcher = KeyWatcher(self._etcd, where.prefix, self._inbox.put, revision + 1)
            self._watchers.append(gevent.spawn(watcher.run))
            self._watching.append(watcher)

    def _follow(self) -> None:
        """Apply the watches' events until one of them fell behind compaction (then read everything again); every
        REFRESH seconds, changes or not, a snapshot with every marker's lease asked again."""
        while True:
            due = self._leases_asked + REFRESH - self._clock()
            if due <= 0:
                self._publish(every_lease=True)
                continue
            try:
                message = self._inbox.get(timeout=due)
            except gevent.queue.Empty:
                continue
            self._sleep(BURST)
            for item in [message, *self._drain()]:
                if isinstance(item, Resync):
                    log.warning("reading the registry again: %s", item.reason)
                    return
                if isinstance(item, KeysChanged):
                    self.mirror.apply(item.events)
            self._publish(every_lease=False)

    def _drain(self) -> list[Message]:
        found = []
        while not self._inbox.empty():
            found.append(self._inbox.get_nowait())
        return found

    def _stop_watchers(self) -> None:
        gevent.killall(self._watchers)
        self._watchers, self._watching = [], []
        self._inbox = gevent.queue.Queue()

    # -- publishing ---------------------------------------------------------------------------------------
    def _publish(self, every_lease: bool) -> None:
        """A new snapshot of the mirror; the page's waiting polls wake. The markers' leases are asked again, all
        of them (`every_lease`: one request a host, so only every REFRESH seconds, never on a change's way to the
        page) or those not known yet."""
        started = self._clock()
        config = self._config
        registry = self.mirror.registry(config.backends_dir, config.traefik_root)
        wanted = marker_leases(registry.markers.values())
        if every_lease:
            self._leases_asked = started  # failed or not: asked again REFRESH seconds later
        try:
            asked = self._etcd.lease_infos(sorted(wanted if every_lease else wanted - set(self._leases)))
            self._leases = {lease: info for lease, info in {**self._leases, **asked}.items() if lease in wanted}
            self.problem = ""
        except self._unreadable as exc:  # the rows keep the TTLs last read
            self.problem = f"cannot read the leases: {exc}"
            log.warning("%s", self.problem)
        self.snapshot = snapshot_of(registry, self.mirror.by_key, self._leases, self.mirror.revision,
                                    self.snapshot.version + 1)
        published, self._published = self._published, gevent.event.Event()
        published.set()
        log.debug("snapshot %d of %d keys at revision %d in %.2fs", self.snapshot.version, len(self.mirror),
                  self.mirror.revision, self._clock() - started)

