"""Stops self-healing from fighting: two agents wanting one key differently would rewrite it forever."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW = 10.0
MAX_RESTORES = 3


class FlapGuard:
    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = WINDOW,
                 max_restores: int = MAX_RESTORES) -> None:
        self._clock = clock
        self._window = window
        self._max = max_restores
        self._restores: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """True when `key` may be restored now; each allowed restore counts against the window."""
        now = self._clock()
        recent = self._restores.setdefault(key, deque())
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        if len(recent) >= self._max:
            return False
        recent.append(now)
        return True

    def forget_old(self) -> None:
        """Drop keys with no restore inside the window, so the table does not grow with churn."""
        cutoff = self._clock() - self._window
        for key in [key for key, recent in self._restores.items() if not recent or recent[-1] <= cutoff]:
            del self._restores[key]
