"""The EventFollower greenlet: turns Docker events into the writer's messages, reconnecting after outages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent

from agent import metrics
from agent.adapters.docker_engine import KILL, Docker, DockerUnavailable, affected_container, kill_signal
from agent.core.messages import ContainerChanged, Message, Resync
from agent.retry import DOCKER_STREAM, Backoff

log = logging.getLogger(__name__)

# Podman 4.3's `health_status` event names no verdict, and can reach us before the check's result is in the
# container's state: an inspect at once may still read the old health. The container is looked at again this
# many seconds later; when nothing changed, that second look writes nothing.
HEALTH_SETTLE = 0.5
VERDICTLESS_HEALTH = "health_status"  # Docker's says `health_status: healthy` or `: unhealthy`

Later = Callable[..., object]  # gevent.spawn_later's signature: (seconds, function, *args)


class EventFollower:
    def __init__(self, connect: Callable[[], Docker], submit: Callable[[Message], None],
                 later: Later = gevent.spawn_later) -> None:
        self._connect = connect
        self._submit = submit
        self._later = later
        self._since: float | None = None
        self._stream: Iterator[dict[str, Any]] | None = None
        self._docker: Docker | None = None
        self.connected = False

    def open(self) -> None:
        """Open the stream before the first full sync, so no event between list and follow is missed. A
        reconnect closes the client of the lost stream first."""
        if self._docker is not None:
            self._docker.close()
        self._docker = self._connect()
        self._stream = self._docker.events(self._since)
        self.connected = True

    def run(self) -> None:
        retry = Backoff(DOCKER_STREAM)
        while True:
            try:
                if self._stream is None:
                    self.open()
                    log.info("Docker event stream reconnected; replaying events since %s", self._since)
                    self._submit(Resync("Docker reconnected"))
                    retry.reset()
                self._follow(self._stream)
            except DockerUnavailable as exc:
                self._stream, self.connected = None, False
                delay = retry.next_delay()
                log.warning("Docker event stream lost (%s); reconnecting in %.1fs", exc, delay)
                gevent.sleep(delay)

    def _follow(self, stream: Iterator[dict[str, Any]]) -> None:
        for event in stream:
            self._since = int(event.get("timeNano") or 0) / 1e9 or self._since
            action = str(event.get("Action") or event.get("status"))
            metrics.DOCKER_EVENTS.labels(action.split(":")[0]).inc()
            if self._since:
                metrics.EVENT_LAG.set(max(0.0, time.time() - self._since))
            cid = affected_container(event)
            if cid:
                log.debug("event %s %s", action, cid[:12])
                self._submit(ContainerChanged(cid, action, kill_signal(event) if action == KILL else ""))
                if action == VERDICTLESS_HEALTH:
                    self._later(HEALTH_SETTLE, self._submit, ContainerChanged(cid, action))
