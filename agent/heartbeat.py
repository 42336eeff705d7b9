"""The Heartbeat greenlet: keeps the host's one lease alive, reports it lost exactly once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent.event

from agent import metrics
from agent.etcd import Etcd, EtcdRequestError, EtcdUnavailable

log = logging.getLogger(__name__)


class LeaseRef:
    """The host's current lease id (0 = no lease). The writer replaces it; the heartbeat reads it."""

    def __init__(self, lease: int) -> None:
        self.id = lease


class Heartbeat:
    def __init__(self, etcd: Etcd, lease: LeaseRef, ttl: int, on_lost: Callable[[int], None]) -> None:
        self._etcd = etcd
        self._lease = lease
        self._interval = ttl / 3
        self._on_lost = on_lost
        self._reported = 0
        self._stopped = gevent.event.Event()
        self.last_success = time.monotonic()  # the lease was granted or adopted just now

    def fresh(self) -> bool:
        """Whether a keepalive succeeded within the last TTL: readiness needs a lease that holds."""
        return time.monotonic() - self.last_success < self._interval * 3

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.beat()

    def beat(self) -> None:
        lease = self._lease.id
        started = time.monotonic()
        try:
            remaining = self._etcd.lease_refresh(lease)
        except (EtcdUnavailable, EtcdRequestError) as exc:
            metrics.KEEPALIVE_FAILURES.inc()
            log.warning("keepalive of lease %x failed: %s", lease, exc)
            return
        metrics.KEEPALIVE_SECONDS.observe(time.monotonic() - started)
        if remaining > 0:
            self.last_success = time.monotonic()
        if remaining <= 0 and lease != self._reported:
            self._reported = lease
            log.warning("lease %x is gone", lease)
            self._on_lost(lease)

    def stop(self) -> None:
        self._stopped.set()
