"""Start-up: wait for Docker and etcd, then claim the host (adopt a stopped agent's lease, or wait)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import backoff
import gevent

from agent.docker_api import DockerUnavailable
from agent.etcd import Etcd, EtcdAuthFailed, EtcdRequestError, EtcdTlsError, EtcdUnavailable
from agent.marker import RUNNING, STOPPED, marker_state

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_WAIT_DELAY = 10.0
CLAIM_POLL = 1.0
UNREACHABLE = (DockerUnavailable, EtcdUnavailable, EtcdRequestError)
FATAL = (EtcdTlsError, EtcdAuthFailed)  # settings to fix: waiting would not help


def wait_for(what: str, attempt: Callable[[], T]) -> T:
    """Call `attempt` until it succeeds, with exponential backoff and a log line per failure.

    A FATAL error is raised at once.
    """

    def report(details: dict) -> None:
        log.warning("waiting for %s (attempt %d, retry in %.1fs): %s", what, details["tries"], details["wait"],
                    details["exception"])

    retrying = backoff.on_exception(backoff.expo, UNREACHABLE, max_value=MAX_WAIT_DELAY, factor=0.5,
                                    jitter=None, on_backoff=report, logger=None,
                                    giveup=lambda exc: isinstance(exc, FATAL))
    return retrying(attempt)()


def claim_host(etcd: Etcd, key: str, host: str, ttl: int) -> int:
    """The lease to carry on with: a stopped agent's live lease (adopted), or 0 for a new one.

    While the marker says another agent for this host is running on a live lease, wait for it to go.
    """
    said_waiting = False
    while True:
        stored = etcd.get(key)
        state = marker_state(stored.value) if stored else None
        if stored is None or not stored.lease:
            if state == RUNNING:
                log.warning("host %s: the last agent (no lease, TTL 0) did not stop cleanly; taking over", host)
            return 0
        if state == STOPPED:
            return _adopt(etcd, stored.lease, host) if ttl else 0
        if state != RUNNING:
            log.warning("host %s: %s holds no marker of ours; overwriting it", host, key)
            return 0
        if not said_waiting:
            log.warning("host %s is held by a running agent (lease %x); waiting until it stops or its lease "
                        "expires", host, stored.lease)
            said_waiting = True
        gevent.sleep(CLAIM_POLL)


def _adopt(etcd: Etcd, lease: int, host: str) -> int:
    if etcd.lease_refresh(lease) <= 0:
        return 0
    log.info("host %s: adopting lease %x of the stopped agent; its keys stay in place", host, lease)
    return lease
