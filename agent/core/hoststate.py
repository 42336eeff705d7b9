"""The writer's state as a pure model: what this host wants, what it wrote and at which revision, which
shared keys other hosts hold, what is broken, when to stop fighting. Methods take what was read or seen and
return plans; nothing here talks to Docker or etcd or sleeps."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.core.desired import MARKER_GROUP, DesiredState
from agent.core.flapguard import FlapGuard
from agent.core.healing import held_elsewhere, is_damage
from agent.core.kv import KeyValue, WatchEvent
from agent.core.layout import Layout
from agent.core.marker import RUNNING, Marker, StoredMarker
from agent.core.ownership import held_by_others, owned_keys, still_shared
from agent.core.plan import Op, Plan, Put, diff

STALE_GROUP = "stale keys"


class HostTakenOver(Exception):
    """Another agent has claimed this host's marker: this one must stop writing at once (SPEC §6)."""


@dataclass(frozen=True)
class GroupPlan:
    """One group's changes: a container (by id), the agent marker, or this host's stale keys."""

    group: str
    plan: Plan
    existed: bool


@dataclass(frozen=True)
class Comparison:
    """What a full comparison found: the plans that make etcd exact, and the keys it left alone."""

    plans: tuple[GroupPlan, ...]
    wanted: Mapping[str, str]
    held_elsewhere: Mapping[str, str]  # shared keys another host's lease holds: that host keeps them
    holders: Mapping[str, int]  # the lease holding each of those
    conflicts: tuple[str, ...]  # of those, the keys whose value differs from ours
    fought: tuple[str, ...]  # keys someone keeps changing back: left as they are for now


class HostState:
    def __init__(self, layouts: Sequence[Layout], marker: Marker, marker_key: str, records: bool,
                 flaps: FlapGuard | None = None) -> None:
        self.layouts = layouts
        self.marker_key = marker_key
        self._records = records  # TTL 0: the marker records the keys no host index finds again
        self.desired = DesiredState(self._first_wins)
        self.written: dict[str, str] = {}
        self.revisions: dict[str, int] = {}  # the revision of our last put or delete of each key
        self.revision = 0  # the latest revision read or written at
        self.snapshot_revision = 0  # the last full comparison saw everything up to this revision
        self.held_elsewhere: set[str] = set()
        self.holders: dict[str, int] = {}  # the lease of each key held elsewhere, as last read or seen
        self.broken: set[str] = set()  # keys someone else broke, repaired by the next full comparison
        self._flaps = flaps or FlapGuard()
        self.set_marker(marker)

    # -- what the host wants -------------------------------------------------------------------------
    def set_marker(self, marker: Marker) -> None:
        self.marker = marker
        self.desired.replace(MARKER_GROUP, {self.marker_key: marker.encode()})

    def want_container(self, cid: str, keys: Mapping[str, str]) -> set[str]:
        """One container's keys (none: not to be registered); returns the keys whose wanted value may have
        changed, the marker's included when its record changed."""
        return self.desired.replace(cid, keys) | self._update_record()

    def want_containers(self, groups: Mapping[str, Mapping[str, str]]) -> None:
        """Every container's keys, as Docker lists them now."""
        self.desired.reset({MARKER_GROUP: {self.marker_key: self.marker.encode()}, **groups})
        self._update_record()

    def want_nothing(self) -> None:
        """SIGTERM with TTL 0: every key of this host goes, the marker too."""
        self.desired.reset({})

    def _update_record(self) -> set[str]:
        if not self._records or not self.desired.has_group(MARKER_GROUP):
            return set()
        record = tuple(sorted(key for key in self.desired.keys() if self._recorded(key)))
        if record == self.marker.keys:
            return set()
        self.set_marker(self.marker.with_keys(record))
        return {self.marker_key}

    def watched(self) -> set[str]:
        """Prefixes (and the marker key) whose damage is repaired within a second (SPEC §6)."""
        wanted = self.desired.keys()
        return {prefix for layout in self.layouts for prefix in layout.watched(wanted)} | {self.marker_key}

    # -- plans ---------------------------------------------------------------------------------------
    def change_plan(self, affected: Collection[str]) -> tuple[Plan, bool]:
        """The change of `affected` keys against what this writer knows it wrote; whether any was there."""
        wanted = self.desired.values(affected)
        actual = {key: self.written[key] for key in affected if key in self.written}
        actual.update({key: wanted[key] for key in self.held_elsewhere.intersection(wanted)})
        return diff(wanted, actual, self.rank), bool(actual)

    def compare(self, stored: Sequence[KeyValue], lease: int, replaced: int = 0, complete: bool = True) -> Comparison:
        """Plans that make what etcd holds of this host (`stored`, read by the host's bounds) exact. Keys on
        `replaced` (an adopted lease being replaced) are ours too: they move to `lease`. Not `complete` (Docker
        could not show every running container): keys no container wants are left, not deleted as stale."""
        wanted = self.desired.everything()
        marker = next((item for item in stored if item.key == self.marker_key), None)
        if marker is not None:
            self.check_marker(marker.value, marker.mod_revision)
        recorded = StoredMarker.decode(marker.value).keys if marker else ()
        actual = owned_keys(stored, self.layouts, self.desired.container_ids(), lease, self.marker_key, recorded)
        others = held_by_others(stored, wanted, self.shared, {lease, replaced} if replaced else {lease})
        actual.update({key: wanted[key] for key in others})
        for key in still_shared(stored, set(actual) - set(wanted), self.shared):
            del actual[key]
        fought = self._fought(actual, wanted)
        actual.update({key: wanted[key] for key in fought})
        if not complete:
            actual = {key: value for key, value in actual.items() if key in wanted}
        conflicts = tuple(sorted(key for key, value in others.items() if value != wanted[key]))
        holders = {item.key: item.lease for item in stored if item.key in others}
        return Comparison(tuple(self._group_plans(actual)), wanted, others, holders, conflicts, tuple(sorted(fought)))

    def _fought(self, actual: Mapping[str, object], wanted: Mapping[str, str]) -> set[str]:
        """Keys we had written that someone else changed again, too often (two writers wanting them
        differently would rewrite them for ever)."""
        changed = {key for key, value in wanted.items() if self.written.get(key) == value and actual.get(key) != value}
        return {key for key in changed if not self._flaps.allow(key)}

    def _group_plans(self, actual: Mapping[str, object]) -> Iterable[GroupPlan]:
        """One plan per desired group (a key shared by groups goes with the first), then the stale keys."""
        seen: set[str] = set()
        for group in self.desired.group_names():
            keys = set(self.desired.group(group)) - seen
            seen |= keys
            present = {key: actual[key] for key in keys if key in actual}
            plan = diff(self.desired.values(keys), present, self.rank)
            if plan:
                yield GroupPlan(group, plan, bool(present))
        stale = diff({}, {key: value for key, value in actual.items() if key not in self.desired}, self.rank)
        if stale:
            yield GroupPlan(STALE_GROUP, stale, True)

    # -- what happened -------------------------------------------------------------------------------
    def applied(self, ops: Iterable[Op], revision: int) -> None:
        for op in ops:
            if isinstance(op, Put):
                self.written[op.key] = op.value
            else:
                self.written.pop(op.key, None)
            self.revisions[op.key] = revision
        self.revision = max(self.revision, revision)

    def in_step(self, comparison: Comparison, revision: int) -> None:
        """A comparison's plans are all in etcd: what was written is what is wanted."""
        held = comparison.held_elsewhere
        self.written = {key: value for key, value in comparison.wanted.items() if key not in held}
        self.held_elsewhere = set(held)
        self.holders = dict(comparison.holders)
        self.revisions = {key: self.revisions[key] for key in self.written if key in self.revisions}
        self.snapshot_revision = max(self.snapshot_revision, revision)
        self.revision = max(self.revision, revision)

    def forget_written(self) -> None:
        """After a wipe or a lease loss nothing this writer wrote can be trusted to be there."""
        self.written.clear()

    def leave_shared(self, keys: Iterable[str]) -> None:
        """Shared keys another host's key still stands beside: not deleted, no longer ours."""
        for key in keys:
            self.written.pop(key, None)

    def unseen_shared(self, affected: Collection[str]) -> set[str]:
        """Shared keys among `affected` this host wants but has neither written nor seen held by another host:
        whether someone holds them must be read before they are put."""
        wanted = self.desired.values(affected)
        known = self.written.keys() | self.held_elsewhere
        return {key for key in wanted if self.shared(key) and key not in known}

    def note_held(self, stored: Iterable[KeyValue], lease: int) -> None:
        """Shared keys read from etcd: those on another host's lease are that host's to keep."""
        for item in stored:
            if self.shared(item.key) and item.lease != lease:
                self.held_elsewhere.add(item.key)
                self.holders[item.key] = item.lease

    def holder_leases(self) -> set[int]:
        """The leases of other hosts that hold shared keys this host wants."""
        return {self.holders[key] for key in self.held_elsewhere if key in self.holders}

    def take_over(self, silent: Collection[int]) -> set[str]:
        """The shared keys held by `silent` leases (silent past SPEC §6's take-over threshold: their host is
        gone): no longer held elsewhere, so that a change plan of them puts them on this host's lease before
        those leases expire, and consumers never see them deleted (SPEC §7)."""
        keys = {key for key in self.held_elsewhere if self.holders.get(key) in silent}
        self.held_elsewhere -= keys
        for key in keys:
            del self.holders[key]
        return keys

    def damage(self, events: Sequence[WatchEvent], lease: int) -> set[str]:
        """Keys that watched changes by someone else broke (SPEC §6), added to `broken`; raises HostTakenOver
        when another agent wrote this host's marker."""
        for event in events:
            if event.key == self.marker_key and not event.deleted:
                self.check_marker(event.value, event.mod_revision)
            if self.shared(event.key):
                self._note_holder(event, lease)
        damaged = {event.key for event in events if self._is_damage(event, lease)}
        self.broken |= damaged
        return damaged

    def take_broken(self) -> set[str]:
        """What was broken since the last repair; a repair is about to fix it."""
        broken, self.broken = self.broken, set()
        return broken

    def check_marker(self, value: str, mod_revision: int) -> None:
        """A marker of another agent written after ours: that agent has claimed the host (SPEC §6)."""
        ours = self.revisions.get(self.marker_key)
        if ours is None or mod_revision <= ours:
            return  # our predecessor's marker, or one we have since overwritten
        stored = StoredMarker.decode(value)
        if stored.state == RUNNING and stored.agent and stored.agent != self.marker.agent:
            raise HostTakenOver(f"host {self.marker.host}: another agent ({stored.agent}) has taken this host "
                                f"over; stopping without writing")

    def _note_holder(self, event: WatchEvent, lease: int) -> None:
        if event.mod_revision <= self.revisions.get(event.key, 0):
            return  # older than our own last write of it
        if held_elsewhere(event, lease):
            self.held_elsewhere.add(event.key)
            self.holders[event.key] = event.lease
            self.written.pop(event.key, None)
        else:
            self.held_elsewhere.discard(event.key)
            self.holders.pop(event.key, None)

    def _is_damage(self, event: WatchEvent, lease: int) -> bool:
        seen = max(self.snapshot_revision, self.revisions.get(event.key, 0))
        wanted = self.desired.values([event.key]).get(event.key)
        return is_damage(event, wanted, lease, seen, self.shared(event.key), self.host_scoped(event.key))

    def forget_old_fights(self) -> None:
        self._flaps.forget_old()

    # -- keys ----------------------------------------------------------------------------------------
    def _layout_of(self, key: str) -> Layout | None:
        return next((layout for layout in self.layouts if key.startswith(layout.root + "/")), None)

    def rank(self, key: str) -> int:
        layout = self._layout_of(key)
        return layout.rank(key) if layout else 0

    def shared(self, key: str) -> bool:
        layout = self._layout_of(key)
        return bool(layout and layout.shared(key))

    def _first_wins(self, key: str) -> bool:
        layout = self._layout_of(key)
        return bool(layout and layout.first_wins and layout.shared(key))

    def _recorded(self, key: str) -> bool:
        layout = self._layout_of(key)
        return bool(layout and layout.recorded(key))

    def host_scoped(self, key: str) -> bool:
        return key == self.marker_key or any(key.startswith(layout.host_prefixes()) for layout in self.layouts)
