"""Which keys read from etcd belong to this host, and what they hold as far as the planner cares."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from agent.core.layout import Layout


class StoredKey(Protocol):
    key: str
    value: str
    lease: int


class ForeignLease:
    """Stands for the value of a key held by another lease: equal to nothing, so it gets put again."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<foreign lease>"


FOREIGN_LEASE = ForeignLease()


def owned_keys(stored: Iterable[StoredKey], layouts: Sequence[Layout], container_ids: Collection[str],
               lease: int, marker_key: str, recorded: Collection[str] = ()) -> dict[str, object]:
    """This host's keys: those on its lease, its marker, those it recorded (TTL 0), and those its layouts
    recognise as its own.

    A key this host owns but that is held by another lease (or none, while we use one) maps to
    FOREIGN_LEASE, so that the planner writes it again with ours.
    """
    by_key = {item.key: item for item in stored}
    values = {key: item.value for key, item in by_key.items()}
    mine = {key for key, item in by_key.items() if lease and item.lease == lease}
    mine.update(key for key in (marker_key, *recorded) if key in by_key)
    for layout in layouts:
        mine |= layout.owned(_under(values, layout.root), container_ids)
    return {key: by_key[key].value if by_key[key].lease == lease else FOREIGN_LEASE for key in mine}


def held_by_others(stored: Iterable[StoredKey], wanted: Collection[str], shared: Callable[[str], bool],
                   ours: Collection[int]) -> dict[str, str]:
    """Shared keys this host wants that another host's lease holds (not one of `ours`): present is enough,
    whatever their value (SPEC §4: the last writer of a shared key wins), so they are neither rewritten nor
    deleted by us."""
    return {item.key: item.value for item in stored
            if item.key in wanted and shared(item.key) and item.lease not in ours}


def still_shared(stored: Iterable[StoredKey], leaving: Collection[str], shared: Callable[[str], bool]) -> set[str]:
    """The shared keys among `leaving` (keys this host is about to delete) that another host's key still
    stands beside: those stay, they are that host's as much as ours."""
    keys = {item.key for item in stored}
    staying = keys - set(leaving)
    parents = {key.rsplit("/", 1)[0] + "/" for key in staying}
    return {key for key in leaving if shared(key) and key.rsplit("/", 1)[0] + "/" in parents}


def _under(values: Mapping[str, str], root: str) -> dict[str, str]:
    prefix = root + "/"
    return {key: value for key, value in values.items() if key.startswith(prefix)}
