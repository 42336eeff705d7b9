"""Which keys read from etcd belong to this host, and what they hold as far as the planner cares."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from agent.layouts import Layout


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
               lease: int, marker_key: str) -> dict[str, object]:
    """This host's keys: those on its lease, its marker, and those its layouts recognise as its own.

    A key this host owns but that is held by another lease (or none, while we use one) maps to
    FOREIGN_LEASE, so that the planner writes it again with ours.
    """
    by_key = {item.key: item for item in stored}
    values = {key: item.value for key, item in by_key.items()}
    mine = {key for key, item in by_key.items() if lease and item.lease == lease}
    mine.update(key for key in (marker_key,) if key in by_key)
    for layout in layouts:
        mine |= layout.owned(_under(values, layout.root), container_ids)
    return {key: by_key[key].value if by_key[key].lease == lease else FOREIGN_LEASE for key in mine}


def held_by_others(stored: Iterable[StoredKey], wanted: Mapping[str, str], shared: Callable[[str], bool],
                   lease: int) -> dict[str, str]:
    """Shared keys this host wants that another lease holds: present is enough, whatever their value
    (SPEC §4: the last writer of a shared key wins), so they are neither rewritten nor deleted by us."""
    return {item.key: item.value for item in stored
            if item.key in wanted and shared(item.key) and item.lease != lease}


def _under(values: Mapping[str, str], root: str) -> dict[str, str]:
    prefix = root + "/"
    return {key: value for key, value in values.items() if key.startswith(prefix)}
