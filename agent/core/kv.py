"""What etcd holds and tells, as plain values: the pure core reads these, only the adapter makes them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    lease: int
    mod_revision: int
    create_revision: int = 0  # when the key was last created: who registered first


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as etcd sees it: the TTL it was granted with, the seconds left (-1 when it is gone), and
    the keys attached to it (when asked for)."""

    granted: int
    remaining: int
    keys: tuple[str, ...] = ()

    @property
    def alive(self) -> bool:
        return self.remaining > 0

    @property
    def silence(self) -> int:
        """Seconds since its last keepalive (or grant), to etcd's one-second precision."""
        return self.granted - self.remaining


@dataclass(frozen=True)
class WatchEvent:
    key: str
    value: str
    lease: int
    mod_revision: int
    deleted: bool
    create_revision: int = 0


@dataclass(frozen=True)
class WatchReply:
    """One message of a watch stream: events, or a progress header, or the end of the watch."""

    revision: int
    events: tuple[WatchEvent, ...] = ()
    created: bool = False
    compact_revision: int = 0
    canceled: bool = False

