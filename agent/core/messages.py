"""The messages the one writer is sent (agent/daemon/writer.py): everything that changes etcd arrives as one of
these, from the signals, the Docker reader and the watches. The Docker reader (agent/daemon/inspector.py) is
sent the Docker events and the requests for a full read; what Docker said reaches the writer as `ContainerSeen`
and `HostListed`, so that the writer itself never waits on Docker."""

from __future__ import annotations

from dataclasses import dataclass

from agent.core.container import Inspect
from agent.core.kv import WatchEvent


@dataclass(frozen=True)
class ContainerChanged:
    container_id: str
    action: str
    signal: str = ""  # of a `kill` event: the signal sent, as Docker names it ("15")


@dataclass(frozen=True)
class ContainerSeen:
    """A Docker event and what Docker said of its container then: its inspect, or None (gone, or not asked:
    the event says it is not to be registered)."""

    change: ContainerChanged
    inspect: Inspect | None


@dataclass(frozen=True)
class HostListed:
    """Every running container of the host as Docker listed it, for the full comparison `reason` asked for."""

    inspects: tuple[Inspect, ...]  # of the containers read, in the order they started
    unread: frozenset[str]  # running containers whose inspect failed: what is known of them is kept
    reason: str


@dataclass(frozen=True)
class KeysChanged:
    """Changes seen by a watch: whichever touch a key this host wants, and are not its own, get undone."""

    events: tuple[WatchEvent, ...]


@dataclass(frozen=True)
class Resync:
    """Re-read every container from Docker and every key of this host from etcd; fix the difference. The writer
    asks the Docker reader, whose `HostListed` then starts the comparison."""

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


Message = ContainerSeen | HostListed | KeysChanged | Resync | Wipe | LeaseLost | HoldersSilent | Shutdown
DockerRequest = ContainerChanged | Resync  # what the Docker reader is sent
