"""When the writer's timed work is due: the periodic full comparison, a repair after damage, a retry while
etcd is out of step. Pure: a clock is given."""

from __future__ import annotations

import time
from collections.abc import Callable


class Schedule:
    def __init__(self, resync_every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = resync_every
        self._clock = clock
        self._resync_at = clock() if resync_every else None
        self._heal_at: float | None = None
        self._retry_at: float | None = None

    @property
    def out_of_step(self) -> bool:
        """A retry is pending: etcd must be compared in full before single changes can be trusted."""
        return self._retry_at is not None

    @property
    def heal_pending(self) -> bool:
        return self._heal_at is not None

    def resynced(self) -> None:
        self._resync_at = self._clock() + self._every if self._every else None

    def resync_in(self, delay: float) -> None:
        """A full comparison after `delay` at the latest (also with periodic ones off)."""
        at = self._clock() + delay
        self._resync_at = at if self._resync_at is None else min(self._resync_at, at)

    def heal_in(self, delay: float) -> None:
        """A repair after `delay`, unless one is pending already (it will repair this damage too)."""
        if self._heal_at is None:
            self._heal_at = self._clock() + delay

    def retry_in(self, delay: float) -> None:
        self._retry_at = self._clock() + delay

    def in_step(self) -> None:
        self._retry_at = None

    def resync_due(self) -> bool:
        return self._due(self._resync_at)

    def heal_due(self) -> bool:
        return self._due(self._heal_at)

    def healed(self) -> None:
        self._heal_at = None

    def retry_due(self) -> bool:
        return self._due(self._retry_at)

    def wait_time(self) -> float | None:
        """Seconds until the next timed work; None when nothing is timed."""
        deadlines = [at for at in (self._resync_at, self._heal_at, self._retry_at) if at is not None]
        return max(0.0, min(deadlines) - self._clock()) if deadlines else None

    def _due(self, at: float | None) -> bool:
        return at is not None and self._clock() >= at
