"""Pure judgements of self-healing: which watched changes undo something this host wants."""

from __future__ import annotations

from agent.core.kv import WatchEvent


def is_damage(event: WatchEvent, wanted: str | None, lease: int, seen_revision: int, shared: bool,
              host_scoped: bool = False) -> bool:
    """Whether `event` broke a key this host wants (`wanted` is its desired value, None when unwanted), or
    put a key this host does not want under one of its host-scoped prefixes (a stale key to delete).

    Changes at or before `seen_revision` (our last write of the key, or the last full comparison) are
    already accounted for. A shared key is only damaged by its deletion: another host's lease holding it,
    whatever its value, is how shared keys work (SPEC §4).
    """
    if event.mod_revision <= seen_revision:
        return False
    if wanted is None:
        return host_scoped and not event.deleted
    if event.deleted or shared:
        return event.deleted
    return event.lease != lease or event.value != wanted


def held_elsewhere(event: WatchEvent, lease: int) -> bool:
    """For a shared key: whether after `event` another host's lease holds it."""
    return not event.deleted and event.lease != lease
