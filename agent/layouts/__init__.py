"""Key layouts. A layout is a pure mapping from one container's inspect dict to the keys it wants.

The rest of the agent only sees the `Layout` protocol. Each layout module declares itself once, as its
`LAYOUT` (a `LayoutKind`: name, settings, factory, start-up check); agent/layouts/registry.py lists them, and
configuration and `build_layouts` read that list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.config import Config, Setting, layout_kinds
from agent.container import Inspect, is_registrable
from agent.plan import fits_one_request

OWN, INDEX = 0, 1  # ranks: a container's own keys are written before its index keys, deleted after them


class Layout(Protocol):
    name: str
    root: str

    def container_keys(self, inspect: Inspect) -> dict[str, str]:
        """Every key this layout writes for one registrable container, own keys first."""

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


@dataclass(frozen=True)
class LayoutKind:
    """A layout as configuration knows it.

    `name` is its word in EC_REGISTRATOR_LAYOUTS; `settings` are its own (read whether it is enabled or not,
    found in `config.layout_settings` and as `config.<name>`); `root_setting` names the setting (its own or the
    agent's) that holds its root, which must not nest with another enabled layout's; `make(config, host)` builds
    it; `check(config)`, when given, runs at start-up when it is enabled and raises ConfigError."""

    name: str
    root_setting: str
    make: Callable[[Config, str], Layout]
    settings: tuple[Setting, ...] = ()
    check: Callable[[Config], None] | None = None


def keys_of(inspect: Inspect, layouts: Sequence[Layout]) -> tuple[dict[str, str], list[str]]:
    """Every key of one container in every layout (none when it is not to be registered), and the keys
    left out because a single one is over etcd's request limit."""
    if not is_registrable(inspect):
        return {}, []
    keys: dict[str, str] = {}
    for layout in layouts:
        keys.update(layout.container_keys(inspect))
    too_big = [key for key, value in keys.items() if not fits_one_request(key, value)]
    for key in too_big:
        del keys[key]
    return keys, too_big


def build_layouts(config: Config, host: str) -> list[Layout]:
    """The enabled layouts, in the order EC_REGISTRATOR_LAYOUTS names them."""
    kinds = {kind.name: kind for kind in layout_kinds()}
    return [kinds[name].make(config, host) for name in config.layouts]
