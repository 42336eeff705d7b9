"""The host's one lease, owned by `HostLease`: claimed at start (adopted or granted), kept alive at its own
TTL by the `Heartbeat` greenlet, granted anew when lost, replaced, revoked. Everybody else asks it."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

import gevent
import gevent.event

from agent import metrics
from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError
from agent.core.kv import LeaseInfo
from agent.core.marker import RUNNING, STOPPED, StoredMarker
from agent.core.plan import Put
from agent.retry import KEEPALIVE, Backoff

log = logging.getLogger(__name__)

CLAIM_POLL = 0.25


class Claim(enum.Enum):
    GRANT = "grant"  # nobody holds the host: a new lease (none with TTL 0)
    ADOPT = "adopt"  # a stopped or crashed agent's live lease: carry on with it, its keys stay in place
    WAIT = "wait"  # a live agent holds the host


def takeover_silence(granted: int) -> float:
    """Seconds without a keepalive after which the holder of a lease is taken to be gone (SPEC §6): its
    keepalive interval (TTL/3) plus a margin for a slow keepalive and etcd's one-second precision."""
    return granted / 3 + 1 + granted / 10


def judge_claim(stored: StoredMarker | None, lease: int, info: LeaseInfo | None, ttl: int) -> Claim:
    """What to do with a host whose marker is `stored` (None: no marker), on `lease` as etcd sees it."""
    if stored is None or not lease or info is None or not info.alive or stored.state is None:
        return Claim.GRANT
    gone = stored.state == STOPPED or info.silence > takeover_silence(info.granted)
    if not gone:
        return Claim.WAIT
    return Claim.ADOPT if ttl else Claim.GRANT  # with TTL 0 no lease is carried on


class HostLease:
    """The lease id every key is written with (0: no lease, TTL 0), and its whole life."""

    def __init__(self, etcd: Etcd, ttl: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._etcd = etcd
        self._clock = clock
        self.ttl = ttl  # configured
        self.granted = ttl  # of the lease in use: an adopted lease keeps its own until it is replaced
        self.id = 0
        self.last_refresh = clock()
        self._reported_lost = 0
        self.replaced = gevent.event.Event()  # set by every grant: the heartbeat's interval may have changed

    @property
    def interval(self) -> float:
        return self.granted / 3

    def fresh(self) -> bool:
        """Whether the lease was kept alive within its TTL: readiness needs a lease that holds."""
        return not self.ttl or self._clock() - self.last_refresh < self.granted

    def needs_replacement(self) -> bool:
        """An adopted lease of another TTL than ours: replace it without a gap once the host is in sync."""
        return bool(self.id) and self.granted != self.ttl

    def claim(self, marker_key: str, host: str) -> Claim:
        """Adopt the lease of a stopped or crashed agent, or grant a new one; wait while a live agent holds
        the host. Etcd errors propagate (the caller retries)."""
        said_waiting = False
        while True:
            stored, lease, info = self._read_holder(marker_key)
            decision = judge_claim(stored, lease, info, self.ttl)
            if decision is not Claim.WAIT:
                break
            if not said_waiting:
                log.warning("host %s is held by a running agent (lease %x); waiting until it stops, its keepalives "
                            "stop, or its lease expires", host, lease)
                said_waiting = True
            gevent.sleep(CLAIM_POLL)
        if decision is Claim.ADOPT:
            assert info is not None and stored is not None
            self._adopt(lease, info, host, crashed=stored.state == RUNNING)
            return decision
        if stored is not None:
            self._say_taken(stored, lease, marker_key, host)
        if self.ttl:
            self.grant()
        return decision

    @staticmethod
    def _say_taken(stored: StoredMarker, lease: int, marker_key: str, host: str) -> None:
        """A marker left behind that is not adopted: say why it is overwritten."""
        if stored.state is None:
            log.warning("host %s: %s holds no marker of ours; overwriting it", host, marker_key)
        elif stored.state == RUNNING and not lease:
            log.warning("host %s: the last agent (no lease, TTL 0) did not stop cleanly; taking over", host)

    def _read_holder(self, marker_key: str) -> tuple[StoredMarker | None, int, LeaseInfo | None]:
        found, _ = self._etcd.read([marker_key])
        if not found:
            return None, 0, None
        stored, lease = StoredMarker.decode(found[0].value), found[0].lease
        return stored, lease, self._etcd.lease_info(lease) if lease else None

    def _adopt(self, lease: int, info: LeaseInfo, host: str, crashed: bool) -> None:
        if self._etcd.lease_refresh(lease) <= 0:
            self.grant()
            return
        self.id, self.granted, self.last_refresh = lease, info.granted, self._clock()
        how = (f"its agent is gone ({info.silence}s without a keepalive)" if crashed
               else "its agent stopped")
        log.info("host %s: adopting lease %x (TTL %ds): %s; its keys stay in place", host, lease, info.granted, how)

    def grant(self) -> int:
        """A new lease with the configured TTL; returns the one it replaces (0: none)."""
        old = self.id
        self.id, self.granted = self._etcd.lease_grant(self.ttl), self.ttl
        self.last_refresh = self._clock()
        self.replaced.set()
        return old

    def refresh(self) -> None:
        """One keepalive. A lost lease raises LeaseGone, once per lease; etcd errors propagate."""
        lease = self.id
        remaining = self._etcd.lease_refresh(lease)
        if remaining > 0:
            self.last_refresh = self._clock()
        elif lease != self._reported_lost:
            self._reported_lost = lease
            log.warning("lease %x is gone", lease)
            raise LeaseGone(lease)

    def revoke(self, lease: int | None = None) -> None:
        """Revoke the lease in use (or an old one): every key attached to it vanishes at once."""
        self._etcd.lease_revoke(self.id if lease is None else lease)

    def release(self, reason: str) -> bool:
        """Revoke the lease in use for `reason` (SIGTERM), saying so in one line; False when etcd could not be
        told, and the keys expire after the TTL instead."""
        try:
            self.revoke()
        except EtcdError as exc:
            log.error("%s: could not revoke lease %x, keys expire in %ds: %s", reason, self.id, self.granted, exc)
            return False
        log.info("%s: revoked lease %x; this host's keys are gone", reason, self.id)
        return True


    def mark(self, key: str, value: str, reason: str) -> bool:
        """Put the marker `value` on the lease in use for `reason` (SIGINT, when the writer could not in time);
        False when etcd could not be told."""
        try:
            self._etcd.txn([Put(key, value)], self.id)
        except EtcdError as exc:
            log.error("%s: could not mark this host stopped: %s", reason, exc)
            return False
        log.info("%s: marked this host stopped; keys left in place on lease %x, expiring in %ds", reason, self.id,
                 self.granted)
        return True


class LeaseGone(Exception):
    def __init__(self, lease: int) -> None:
        super().__init__(f"lease {lease:x} is gone")
        self.lease = lease


class Heartbeat:
    """The greenlet that keeps the host's lease alive, every TTL/3 of the lease in use. A new lease (granted after
    a loss, or replacing an adopted one of another TTL) wakes it: the next keepalive is due one interval of the
    new lease after its grant, not at the end of a wait the old lease's TTL set."""

    def __init__(self, lease: HostLease, on_lost: Callable[[int], None]) -> None:
        self._lease = lease
        self._on_lost = on_lost
        self._stopped = gevent.event.Event()

    def run(self) -> None:
        retry = Backoff(KEEPALIVE)
        delay = self._lease.interval
        while not self._wait(delay):
            if self._lease.replaced.is_set():
                self._lease.replaced.clear()
                delay = self._lease.interval
                continue
            if self.beat():
                retry.reset()
                delay = self._lease.interval
            else:  # tried again soon, not a whole interval later
                delay = min(self._lease.interval, retry.next_delay())

    def _wait(self, delay: float) -> bool:
        """Wait `delay` seconds, or until stopped or the lease is replaced; True when stopped."""
        gevent.wait([self._stopped, self._lease.replaced], timeout=delay, count=1)
        return self._stopped.is_set()

    def beat(self) -> bool:
        """One keepalive; False when it failed and should be tried again soon."""
        started = time.monotonic()
        try:
            self._lease.refresh()
        except LeaseGone as gone:
            self._on_lost(gone.lease)
            return True
        except EtcdError as exc:
            metrics.KEEPALIVE_FAILURES.inc()
            log.warning("keepalive of lease %x failed: %s", self._lease.id, exc)
            return False
        metrics.KEEPALIVE_SECONDS.observe(time.monotonic() - started)
        return True

    def stop(self) -> None:
        self._stopped.set()
