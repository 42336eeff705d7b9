"""The `Inspector` greenlet: what the agent asks Docker to register containers, asked in one place that is not the
writer (SPEC §6: a hung dependency never holds the agent back).

It takes the Docker events and the writer's requests for a full read in order, asks Docker (every request bounded
by EC_REGISTRATOR_DOCKER_TIMEOUT) and sends the writer what Docker said. The writer never waits on Docker: while
Docker hangs, the lease, self-healing and the signals carry on, and only what needs Docker waits here. A full read
that fails is tried again under the retry policy until Docker answers; an event whose inspect fails asks for one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import gevent
import gevent.queue

from agent.adapters.docker_engine import KILL, STOPPING_ACTIONS, Docker, DockerUnavailable
from agent.core.messages import ContainerChanged, ContainerSeen, DockerRequest, HostListed, Message, Resync
from agent.daemon.dockerread import ContainerReader
from agent.retry import DOCKER_READ, Backoff

log = logging.getLogger(__name__)

ANSWERS_AGAIN = "Docker answers again"
T = TypeVar("T")


class Silence:
    """How long Docker has not answered: from the first request of an episode that got no answer (still waiting,
    or failed) until one is answered. Past `bound`: not ready, one WARNING line; its end: one INFO line."""

    def __init__(self, bound: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.bound = bound
        self._clock = clock
        self._since: float | None = None
        self._warned = False

    def seconds(self) -> float:
        return 0.0 if self._since is None else self._clock() - self._since

    def answering(self) -> bool:
        return self.seconds() < self.bound

    def asking(self) -> None:
        if self._since is None:
            self._since = self._clock()

    def answered(self) -> bool:
        """Docker answered: the episode ends. True when it had passed the bound (said so, now said back)."""
        warned, seconds = self._warned, self.seconds()
        self._since, self._warned = None, False
        if warned:
            log.info("Docker answers again after %.1fs without an answer; reading every container again", seconds)
        return warned

    def failed(self, error: DockerUnavailable) -> None:
        """A request got no answer; once the bound is passed, that is said (once an episode)."""
        if not self.answering() and not self._warned:
            self._warned = True
            log.warning("Docker has not answered for %.1fs (%s); not ready until it does. Only what needs Docker "
                        "waits: the lease, self-healing and the signals carry on", self.seconds(), error)


class Inspector:
    def __init__(self, docker: Docker, deliver: Callable[[Message], None], silence: Silence,
                 sleep: Callable[[float], None] = gevent.sleep) -> None:
        self._docker = docker
        self._deliver = deliver
        self.silence = silence
        self._reader = ContainerReader(lambda: self._ask(docker.running_ids),
                                       lambda cid: self._ask(docker.inspect, cid))
        self._sleep = sleep
        self._queue: gevent.queue.Queue = gevent.queue.Queue()
        self._read_queued = False
        self._recovered = False  # Docker answered again after the bound: every container is read again
        self._retry = Backoff(DOCKER_READ, sleep)

    def submit(self, request: DockerRequest) -> None:
        """An event, or a full read (one queued serves every request for one until it starts)."""
        if isinstance(request, Resync):
            if self._read_queued:
                return
            self._read_queued = True
        self._queue.put(request)

    def run(self) -> None:
        while True:
            self.handle(self._queue.get())

    def drain(self) -> None:
        """Handle what is queued now, without waiting: the greenlet's work done in step (the writer's tests and
        the synthetic benchmark drive it so)."""
        while not self._queue.empty():
            self.handle(self._queue.get())

    def handle(self, request: DockerRequest) -> None:
        if isinstance(request, Resync):
            self._read_all(request.reason)
        else:
            self._read_one(request)
        if self._recovered:
            self._recovered = False
            self.submit(Resync(ANSWERS_AGAIN))

    def _read_one(self, change: ContainerChanged) -> None:
        """An event's container: inspected, unless the event says it is not to be registered (no inspect during
        `docker rm` or `docker stop`, which wait on the container's lock)."""
        cid = change.container_id
        if change.action in STOPPING_ACTIONS or change.action == KILL:
            self._deliver(ContainerSeen(change, None))
            return
        try:
            inspect = self._ask(self._docker.inspect, cid)
        except DockerUnavailable as error:
            log.warning("cannot inspect %s after %s, reading every container again: %s", cid[:12], change.action,
                        error)
            self.submit(Resync(f"inspect after {change.action} failed"))
            return
        self._deliver(ContainerSeen(change, inspect))

    def _read_all(self, reason: str) -> None:
        """Every running container, tried again under the retry policy until Docker lists them."""
        self._read_queued = False
        while True:
            try:
                listing = self._reader.read()
            except DockerUnavailable as error:
                delay = self._retry.next_delay()
                log.log(logging.WARNING if self._retry.failures == 1 else logging.DEBUG,
                        "cannot list the running containers (%s), keeping what is known; trying again in %.1fs",
                        error, delay)
                self._sleep(delay)
                continue
            self._retry.reset()
            self._recovered = False  # this read is the one a recovery asks for
            self._deliver(HostListed(tuple(listing.inspects), listing.unread, reason))
            return

    def _ask(self, call: Callable[..., T], *args: object) -> T:
        """One request to Docker, its answer or its silence told to `silence`."""
        self.silence.asking()
        try:
            answer = call(*args)
        except DockerUnavailable as error:
            self.silence.failed(error)
            raise
        self._recovered |= self.silence.answered()
        return answer
