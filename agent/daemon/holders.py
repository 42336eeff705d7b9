"""`HolderWatch`: the leases of other hosts that hold shared keys this host wants (a traefik router, a backends
`port`). A lease silent past SPEC §6's take-over threshold belongs to a host that is gone (kill -9, a crash):
the writer is told, and puts those keys on this host's lease before that lease expires, so consumers never see
them deleted (SPEC §7). Reads one `lease/timetolive` per such lease per round: bounded by this host's keys."""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError
from agent.daemon.lease import takeover_silence

log = logging.getLogger(__name__)

MIN_ROUND = 0.25  # seconds between two rounds, at least


def round_time(ttl: int) -> float:
    """An eighth of the TTL: a holder is found silent (after TTL/3 plus a margin) well before it expires."""
    return max(MIN_ROUND, ttl / 8)


class HolderWatch:
    def __init__(self, etcd: Etcd, holders: Callable[[], set[int]], on_silent: Callable[[tuple[int, ...]], None],
                 every: float, sleep: Callable[[float], None] = gevent.sleep) -> None:
        self._etcd = etcd
        self._holders = holders
        self._on_silent = on_silent
        self._every = every
        self._sleep = sleep
        self._stopped = False

    def run(self) -> None:
        while not self._stopped:
            self._sleep(self._every)
            self.check()

    def check(self) -> tuple[int, ...]:
        """One round: the silent holders, told to the writer when there are any."""
        silent = tuple(lease for lease in sorted(self._holders()) if self._is_silent(lease))
        if silent:
            self._on_silent(silent)
        return silent

    def _is_silent(self, lease: int) -> bool:
        try:
            info = self._etcd.lease_info(lease)
        except EtcdError as exc:
            log.debug("cannot ask etcd about lease %x: %s", lease, exc)
            return False
        return info.alive and info.silence > takeover_silence(info.granted)

    def stop(self) -> None:
        self._stopped = True
