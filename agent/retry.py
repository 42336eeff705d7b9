"""The one retry policy: exponential delays from the `backoff` library, capped, with optional jitter, and a
sleep that tests can replace (kazoo's KazooRetry is the model). Start-up, the event follower, the watches,
the heartbeat and the writer all wait between attempts through it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import backoff
import gevent


@dataclass(frozen=True)
class Policy:
    """Delays from `first` doubling up to `most`; `spread` adds a random fraction of up to that many seconds,
    so that many agents recovering at once do not retry in the same instant."""

    first: float
    most: float
    spread: float = 0.0

    def delays(self) -> Iterator[float]:
        steps = backoff.expo(base=2, factor=self.first, max_value=self.most)
        next(steps)  # the library's generators start with a bare yield
        return (step + random.uniform(0, self.spread) for step in steps)


class Backoff:
    """One greenlet's retries under a policy: `wait()` after a failure, `reset()` after a success."""

    def __init__(self, policy: Policy, sleep: Callable[[float], None] = gevent.sleep) -> None:
        self._policy = policy
        self._sleep = sleep
        self._delays = policy.delays()
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return next(self._delays)

    def wait(self) -> float:
        delay = self.next_delay()
        self._sleep(delay)
        return delay

    def reset(self) -> None:
        self._delays = self._policy.delays()
        self.failures = 0


RECOVERY_SPREAD = 0.5  # agents recovering at once (a wipe, an etcd outage, a lease loss) spread their writes


def spread() -> float:
    """A random fraction of RECOVERY_SPREAD seconds."""
    return random.uniform(0, RECOVERY_SPREAD)


STARTUP = Policy(first=0.5, most=10.0)  # waiting for Docker or etcd to come up: a log line per attempt
DOCKER_STREAM = Policy(first=0.5, most=10.0)  # Docker's event stream lost
DOCKER_READ = Policy(first=0.5, most=10.0)  # Docker could not list the running containers
WATCH = Policy(first=0.1, most=1.0)  # etcd back => watching again within a second
KEEPALIVE = Policy(first=0.25, most=1.0)  # a failed keepalive is tried again soon, not a TTL/3 later
INSPECT_AGAIN = Policy(first=1.0, most=30.0)  # a container Docker could not inspect: Docker read again
ETCD_WRITE = Policy(first=0.5, most=0.5, spread=RECOVERY_SPREAD)  # out of step with etcd: compare in full again
