"""What the core knows of a layout: the `Layout` protocol (a pure mapping from one container's inspect dict to
the keys it wants, and what those keys are) and the write ranks. The layouts themselves are agent/layouts/."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from agent.core.container import Inspect
from agent.core.selection import Selection

OWN, INDEX = 0, 1  # ranks: a container's own keys are written before its index keys, deleted after them


@dataclass
class Translation:
    """One container's keys in a layout, and a note on each thing of it the layout left out (a label it cannot
    write), for one warning each."""

    keys: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Layout(Protocol):
    name: str
    root: str
    first_wins: bool  # a shared key two containers want differently: the first registered keeps it (else the last)
    selection: Selection  # SPEC §8, the same for every layout: which containers, at which addresses

    def container_keys(self, inspect: Inspect) -> dict[str, str]:
        """Every key this layout writes for one registrable container, own keys first."""

    def translate(self, inspect: Inspect) -> Translation:
        """`container_keys` and the notes on what was left out, in one pass."""

    def rank(self, key: str) -> int:
        """OWN or INDEX: decides write order inside a change."""

    def owned(self, kvs: Mapping[str, str], container_ids: Collection[str]) -> set[str]:
        """Which of the keys read under `root` belong to this host, judged from the keys alone.

        Keys on this host's lease are its own anyway; this finds the others (TTL 0, a lease lost).
        """

    def shared(self, key: str) -> bool:
        """Whether other hosts may want this key too: then it is never taken from them, only put back
        when it is gone, and deleted only when no other host's key stands beside it."""

    def host_prefixes(self) -> tuple[str, ...]:
        """Prefixes that hold this host's keys only: read whole at a full comparison."""

    def more_to_read(self, found: Mapping[str, str], wanted: Collection[str],
                     container_ids: Collection[str]) -> tuple[set[str], set[str]]:
        """Keys and prefixes of this host's that the keys `found` so far point to (bounded by the host)."""

    def watched(self, wanted: Collection[str]) -> set[str]:
        """Prefixes whose damage this host repairs within a second (SPEC §6), given the keys it wants."""

    def recorded(self, key: str) -> bool:
        """Whether the key can only be found again through the agent's own record (with TTL 0, no lease
        lists it)."""
