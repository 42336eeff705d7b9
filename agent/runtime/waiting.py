"""Start-up: wait for Docker and etcd, with a log line per attempt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import backoff

from agent.adapters.docker_engine import DockerUnavailable
from agent.adapters.etcd_errors import EtcdAuthFailed, EtcdError, EtcdTlsError
from agent.retry import STARTUP

log = logging.getLogger(__name__)

T = TypeVar("T")
UNREACHABLE = (DockerUnavailable, EtcdError)
FATAL = (EtcdTlsError, EtcdAuthFailed)  # settings to fix: waiting would not help


def wait_for(what: str, attempt: Callable[[], T]) -> T:
    """Call `attempt` until it succeeds, with exponential backoff and a log line per failure.

    A FATAL error is raised at once.
    """

    def report(details: dict) -> None:
        log.warning("waiting for %s (attempt %d, retry in %.1fs): %s", what, details["tries"], details["wait"],
                    details["exception"])

    retrying = backoff.on_exception(backoff.expo, UNREACHABLE, max_value=STARTUP.most, factor=STARTUP.first,
                                    jitter=None, on_backoff=report, logger=None,
                                    giveup=lambda exc: isinstance(exc, FATAL))
    return retrying(attempt)()
