"""`Background`: a loop on a thread of its own for the window of a `with` block (traffic through a proxy, a
lease sampled, a benchmark's churn). The thread starts at entry; at exit it is told to stop and joined, and what
the loop raised is raised there, so a broken helper fails its test instead of going quiet."""

from __future__ import annotations

import threading
from typing import Self


class Background:
    def __init__(self, name: str, join_timeout: float = 5.0) -> None:
        self.error: Exception | None = None
        self._join_timeout = join_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(self._join_timeout)
        if self.error is not None:
            raise RuntimeError(f"{self._thread.name} failed: {self.error}") from self.error

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less when told to stop meanwhile; True when told to stop."""
        return self._stop.wait(seconds)

    def loop(self) -> None:
        """The thread's work, until `stopping` (or `pause` says so)."""
        raise NotImplementedError

    def _guarded(self) -> None:
        try:
            self.loop()
        except Exception as exc:  # noqa: BLE001 - raised again by __exit__
            self.error = exc
