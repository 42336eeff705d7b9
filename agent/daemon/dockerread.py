"""Every running container of this host, read from Docker for a full comparison: one inspect each, side by side.
A container whose inspect fails (a 500, a timeout behind a stuck container lock, an engine that cannot read its
own state) is left out with one warning and tried again at the next read; the rest of the host is read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import gevent.pool

from agent.adapters.docker_engine import MAX_IN_FLIGHT, DockerUnavailable
from agent.core.container import Inspect, start_order

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listing:
    inspects: list[Inspect]  # of the running containers read, in the order they started
    unread: frozenset[str]  # running containers whose inspect failed


class ContainerReader:
    def __init__(self, running_ids: Callable[[], list[str]], inspect: Callable[[str], Inspect | None]) -> None:
        self._running_ids = running_ids
        self._inspect_one = inspect
        self._failing: set[str] = set()  # said once each, until an inspect works again

    def read(self) -> Listing:
        """Raises DockerUnavailable when the listing itself fails."""
        ids = self._running_ids()
        results = list(gevent.pool.Pool(MAX_IN_FLIGHT).imap_unordered(self._inspect, ids))
        inspects = sorted((found for _, found in results if isinstance(found, dict)), key=start_order)
        unread = frozenset(cid for cid, found in results if isinstance(found, DockerUnavailable))
        for cid in self._failing - unread:
            log.info("container %s can be inspected again", cid[:12])
        self._failing = set(unread)
        return Listing(inspects, unread)

    def _inspect(self, cid: str) -> tuple[str, Inspect | DockerUnavailable | None]:
        try:
            return cid, self._inspect_one(cid)
        except DockerUnavailable as exc:
            if cid not in self._failing:
                log.warning("cannot inspect container %s, leaving it as it is and trying again: %s", cid[:12], exc)
            return cid, exc
