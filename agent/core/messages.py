"""The messages the one writer is sent (agent/daemon/writer.py): everything that changes etcd arrives as one of
these, from the signals, the Docker event follower and the watches."""

from __future__ import annotations

from dataclasses import dataclass

from agent.core.kv import WatchEvent


@dataclass(frozen=True)
class ContainerChanged:
    container_id: str
    action: str
    signal: str = ""  # of a `kill` event: the signal sent, as Docker names it ("15")


@dataclass(frozen=True)
class KeysChanged:
    """Changes seen by a watch: whichever touch a key this host wants, and are not its own, get undone."""

    events: tuple[WatchEvent, ...]


@dataclass(frozen=True)
class Resync:
    """Re-read every container from Docker and every key of this host from etcd; fix the difference."""

    reason: str


@dataclass(frozen=True)
class Wipe:
    """SIGUSR2: delete every enabled layout's root (all hosts), then register this host again."""


@dataclass(frozen=True)
class LeaseLost:
    lease: int


@dataclass(frozen=True)
class HoldersSilent:
    """Leases of other hosts, holding shared keys this host wants, silent past the take-over threshold."""

    leases: tuple[int, ...]


@dataclass(frozen=True)
class Shutdown:
    """SIGTERM (revoke=True): remove this host's keys. SIGINT (revoke=False): leave them, mark stopped."""

    revoke: bool


Message = ContainerChanged | KeysChanged | Resync | Wipe | LeaseLost | HoldersSilent | Shutdown
