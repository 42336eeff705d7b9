"""The one writer: every etcd change of this host goes through `Writer`, one command at a time, in order."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

import gevent
import gevent.event
import gevent.pool
import gevent.queue

from agent import metrics
from agent.commands import Command, ContainerChanged, KeysChanged, LeaseLost, Resync, Shutdown, Wipe
from agent.container import Inspect, container_id, describe
from agent.desired import MARKER_GROUP, DesiredState
from agent.docker_api import STOPPING_ACTIONS, Docker, DockerUnavailable
from agent.etcd import Etcd, EtcdRequestError, EtcdUnavailable, KeyValue, LeaseNotFound, WatchEvent
from agent.flapguard import FlapGuard
from agent.healing import held_elsewhere, is_damage
from agent.hostkeys import read_host_keys, recorded_keys
from agent.layouts import Layout, keys_of
from agent.lease import HostLease
from agent.marker import RUNNING, STOPPED, Marker, StoredMarker
from agent.ownership import held_by_others, owned_keys, still_shared
from agent.plan import Delete, Plan, Put, Txn, diff, transaction_chains
from agent.retry import ETCD_WRITE, Backoff, spread

log = logging.getLogger(__name__)

INSPECT_CONCURRENCY = 16
PIPELINE = 16  # transactions in flight at once during a bulk write
STALE_GROUP = "stale keys"

Follow = Callable[[set[str], int], None]  # the prefixes (or single keys) to watch, from a revision on


class HostTakenOver(Exception):
    """Another agent has claimed this host's marker: this one must stop writing at once (SPEC §6)."""


class Writer:
    def __init__(self, commands: gevent.queue.Queue, etcd: Etcd, docker: Docker, layouts: Sequence[Layout],
                 marker: Marker, marker_key: str, lease: HostLease, resync_every: int, follow: Follow) -> None:
        self._commands = commands
        self._etcd = etcd
        self._docker = docker
        self._layouts = layouts
        self._marker = marker
        self._marker_key = marker_key
        self._lease = lease
        self._resync_every = resync_every
        self._follow = follow
        self._desired = DesiredState()
        self._written: dict[str, str] = {}
        self._revisions: dict[str, int] = {}  # the revision of our last put or delete of each key
        self._revision = 0  # the latest revision this writer has read or written at
        self._snapshot_revision = 0  # the last full comparison saw everything up to this revision
        self._names: dict[str, str] = {}
        self._flaps = FlapGuard()
        self._conflicts_warned: set[str] = set()
        self._held_elsewhere: set[str] = set()  # shared keys we want that another host's lease holds
        self._damage: set[str] = set()  # keys broken by someone else, repaired by the next comparison
        self._dirty = True  # etcd must be compared in full before single changes can be trusted
        self._docker_read = False  # no full comparison before Docker was listed once: it would delete
        self._backoff = Backoff(ETCD_WRITE)
        self._retry_at = 0.0
        self._heal_at: float | None = None
        self._next_resync = 0.0
        self.exit_code = 0
        self.synced = gevent.event.Event()

    # -- loop --------------------------------------------------------------------------------------
    def run(self) -> None:
        self._set_marker(self._marker)
        self.handle_resync(Resync("start"))
        while True:
            command = self._next_command()
            if isinstance(command, Shutdown):
                self.handle_shutdown(command)
                return
            self._dispatch(command)

    def _next_command(self) -> Command:
        """The next queued command; a periodic resync or a repair when one is due; retries while out of
        step with etcd."""
        while True:
            now = time.monotonic()
            if self._resync_every and now >= self._next_resync:
                return Resync("periodic")
            if self._heal_at is not None and now >= self._heal_at:
                self._heal()
            if self._dirty and now >= self._retry_at:
                self._retry()
            try:
                return self._commands.get(timeout=self._wait_time())
            except gevent.queue.Empty:
                continue

    def _retry(self) -> None:
        if self._docker_read:
            self._reconcile("retry")
        else:
            self.handle_resync(Resync("retry"))

    def _wait_time(self) -> float | None:
        deadlines = ([self._retry_at] if self._dirty else []) + ([self._next_resync] if self._resync_every else [])
        deadlines += [self._heal_at] if self._heal_at is not None else []
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _dispatch(self, command: Command) -> None:
        handlers = {ContainerChanged: self.handle_container, KeysChanged: self.handle_keys_changed,
                    Resync: self.handle_resync, Wipe: self.handle_wipe, LeaseLost: self.handle_lease_lost}
        handlers[type(command)](command)  # type: ignore[operator]

    def status(self) -> dict[str, float]:
        return {"registered_containers": float(len(self._desired.container_ids())),
                "written_keys": float(len(self._written)),
                "in_sync": float(self.synced.is_set() and not self._dirty)}

    # -- handlers ----------------------------------------------------------------------------------
    def handle_container(self, command: ContainerChanged) -> None:
        try:
            inspect = None if command.action in STOPPING_ACTIONS else self._docker.inspect(command.container_id)
        except DockerUnavailable as exc:
            log.warning("cannot inspect %s after %s: %s", command.container_id[:12], command.action, exc)
            return
        cid = command.container_id
        keys = self._container_keys(inspect) if inspect else {}
        if inspect:
            self._names[cid] = describe(inspect)
        affected = self._desired.replace(cid, keys) | self._update_record()
        if self._dirty:
            return
        wanted = self._desired.values(affected)
        actual = {key: self._written[key] for key in affected if key in self._written}
        actual.update({key: wanted[key] for key in self._held_elsewhere.intersection(wanted)})
        plan = self._spare_shared(diff(wanted, actual, self._rank))
        if not plan:
            log.debug("%s: %s unchanged", command.action, self._group_name(cid))
        elif self._apply([plan]):
            self._log_change(cid, plan, command.action, existed=bool(actual))
            self._follow_host()
        else:
            (metrics.REGISTRATIONS if keys else metrics.REMOVALS).labels("error").inc()

    def handle_keys_changed(self, command: KeysChanged) -> None:
        """Self-healing: a change by someone else to what this host wants, or under its host-scoped
        prefixes, makes a full comparison due after a random fraction of a second."""
        metrics.WATCH_EVENTS.inc(len(command.events))
        for event in command.events:
            if event.key == self._marker_key and not event.deleted:
                self._check_marker(event.value, event.mod_revision)
            if self._shared(event.key):
                self._note_holder(event)
        damaged = {event.key for event in command.events if self._is_foreign_damage(event)}
        if damaged and not self._dirty:
            self._damage |= damaged
            if self._heal_at is None:
                self._heal_at = time.monotonic() + spread()

    def _heal(self) -> None:
        self._heal_at = None
        damaged, self._damage = self._damage, set()
        self._flaps.forget_old()
        if self._reconcile("self-healing"):
            log.info("restored this host's keys after someone else changed %d of them (%s, …)", len(damaged),
                     min(damaged))

    def _check_marker(self, value: str, mod_revision: int) -> None:
        """A marker of another agent written after ours: that agent has claimed the host (SPEC §6)."""
        ours = self._revisions.get(self._marker_key)
        if ours is None or mod_revision <= ours:
            return  # our predecessor's marker, or one we have since overwritten
        stored = StoredMarker.decode(value)
        if stored.state == RUNNING and stored.agent and stored.agent != self._marker.agent:
            raise HostTakenOver(f"host {self._marker.host}: another agent ({stored.agent}) has taken this host "
                                f"over; stopping without writing")

    def _note_holder(self, event: WatchEvent) -> None:
        """Keep track of the shared keys another host's lease holds: not ours to delete or rewrite."""
        if event.mod_revision <= self._revisions.get(event.key, 0):
            return  # older than our own last write of it
        if held_elsewhere(event, self._lease.id):
            self._held_elsewhere.add(event.key)
            self._written.pop(event.key, None)
        else:
            self._held_elsewhere.discard(event.key)

    def _is_foreign_damage(self, event: WatchEvent) -> bool:
        seen = max(self._snapshot_revision, self._revisions.get(event.key, 0))
        wanted = self._desired.values([event.key]).get(event.key)
        return is_damage(event, wanted, self._lease.id, seen, self._shared(event.key), self._host_scoped(event.key))

    def handle_resync(self, command: Resync) -> None:
        self._next_resync = time.monotonic() + self._resync_every
        if command.reason == "periodic":
            self._list_members()
        self._read_docker()
        self._reconcile(command.reason)

    def _list_members(self) -> None:
        try:
            self._etcd.discover_members()
        except (EtcdUnavailable, EtcdRequestError) as exc:
            log.debug("cannot list etcd's members: %s", exc)

    def handle_wipe(self, command: Wipe) -> None:
        for layout in self._layouts:
            try:
                deleted = self._etcd.delete_prefix(layout.root + "/")
            except (EtcdUnavailable, EtcdRequestError) as exc:
                log.error("SIGUSR2: could not wipe %s: %s", layout.root, exc)
                continue
            log.warning("SIGUSR2: wiped %s (%d keys, all hosts)", layout.root, deleted)
        self._written.clear()
        self._dirty = True
        gevent.sleep(spread())
        self.handle_resync(Resync("SIGUSR2"))

    def handle_lease_lost(self, command: LeaseLost) -> None:
        if command.lease != self._lease.id:
            return
        gevent.sleep(spread())
        try:
            self._lease.grant()
        except (EtcdUnavailable, EtcdRequestError) as exc:
            log.warning("lease %x lost and no new one yet: %s", command.lease, exc)
            self._dirty = True
            self._commands.put(command)
            self._backoff.wait()
            return
        log.warning("lease %x lost; granted lease %x, writing every key again", command.lease, self._lease.id)
        self._set_marker(self._marker.with_lease(self._lease.id))
        self._written.clear()
        self._reconcile("lease lost")

    def _replace_lease(self) -> None:
        """An adopted lease of another TTL: move every key to a new lease of ours, then revoke the old one.
        Consumers see the keys put again, never deleted."""
        try:
            old = self._lease.grant()
        except (EtcdUnavailable, EtcdRequestError) as exc:
            log.warning("cannot replace adopted lease %x yet: %s", self._lease.id, exc)
            return
        self._set_marker(self._marker.with_lease(self._lease.id))
        self._written.clear()
        if self._reconcile("lease replaced"):
            self._lease.revoke(old)
            log.info("moved this host's keys from adopted lease %x to lease %x (TTL %ds)", old, self._lease.id,
                     self._lease.ttl)

    def handle_shutdown(self, command: Shutdown) -> None:
        reason = "SIGTERM" if command.revoke else "SIGINT"
        if command.revoke and self._lease.id:
            self._revoke()
            return
        if command.revoke:
            self._desired.reset({})
            self._update_record()
        else:
            self._set_marker(self._marker.with_state(STOPPED))
        ok = self._reconcile(reason)
        self.exit_code = 0 if ok else 1
        if not ok:
            log.error("%s: etcd could not be updated before exit", reason)
        elif not command.revoke:
            ttl = self._lease.granted if self._lease.id else 0
            log.info("SIGINT: stopped; keys left in place%s", f", expiring in {ttl}s" if ttl else "")

    # -- work --------------------------------------------------------------------------------------
    def _container_keys(self, inspect: Inspect) -> dict[str, str]:
        keys, too_big = keys_of(inspect, self._layouts)
        for key in too_big:
            log.warning("%s: skipping %s, it is over etcd's request limit", describe(inspect), key)
        return keys

    def _read_docker(self) -> bool:
        """Rebuild the desired state from every running container; keep the old one if Docker is away."""
        try:
            ids = self._docker.running_ids()
            pool = gevent.pool.Pool(INSPECT_CONCURRENCY)
            inspects = [found for found in pool.imap_unordered(self._docker.inspect, ids) if found]
        except DockerUnavailable as exc:
            log.warning("cannot list containers, keeping what is known: %s", exc)
            return False
        self._docker_read = True
        groups = {container_id(item): self._container_keys(item) for item in inspects}
        self._names = {container_id(item): describe(item) for item in inspects}
        marker = {MARKER_GROUP: {self._marker_key: self._marker.encode()}}
        self._desired.reset({**marker, **{cid: keys for cid, keys in groups.items() if keys}})
        self._update_record()
        return True

    def _reconcile(self, reason: str) -> bool:
        """Compare the whole desired state with what etcd holds for this host and fix the difference.
        Reads only this host's keys (SPEC §6). True when etcd is in step afterwards."""
        if not self._docker_read:
            self._mark_dirty(f"{reason}: Docker not listed yet")
            return False
        wanted = self._desired.everything()
        try:
            stored, revision = self._read_host(wanted)
        except (EtcdUnavailable, EtcdRequestError) as exc:
            metrics.REGISTRATIONS.labels("error").inc()
            self._mark_dirty(f"{reason}: cannot read etcd: {exc}")
            return False
        marker = next((item for item in stored if item.key == self._marker_key), None)
        if marker is not None:
            self._check_marker(marker.value, marker.mod_revision)
        actual = owned_keys(stored, self._layouts, self._desired.container_ids(), self._lease.id, self._marker_key,
                            recorded_keys(marker))
        others = held_by_others(stored, wanted, self._shared, self._lease.id)
        self._warn_shared_conflicts(others, wanted)
        actual.update({key: wanted[key] for key in others})
        for key in still_shared(stored, set(actual) - set(wanted), self._shared):
            del actual[key]
        actual.update({key: wanted[key] for key in self._fought(actual, wanted)})
        plans = self._group_plans(actual)
        if not self._apply([plan for _, plan, _ in plans]):
            metrics.REGISTRATIONS.labels("error").inc()
            return False
        self._in_step(wanted, others, revision)
        for group, plan, existed in plans:
            self._log_change(group, plan, reason, existed)
        log.debug("%s: %d containers in sync", reason, len(self._desired.container_ids()))
        if reason != "lease replaced" and self._lease.needs_replacement():
            self._replace_lease()
        return True

    def _read_host(self, wanted: Mapping[str, str]) -> tuple[list[KeyValue], int]:
        on_lease: tuple[str, ...] = ()
        if self._lease.id:
            info = self._etcd.lease_info(self._lease.id, keys=True)
            if not info.alive:
                self._commands.put(LeaseLost(self._lease.id))
                raise LeaseNotFound(f"lease {self._lease.id:x} not found")
            on_lease = info.keys
        return read_host_keys(self._etcd, self._layouts, self._marker_key, on_lease, wanted,
                              self._desired.container_ids())

    def _in_step(self, wanted: Mapping[str, str], others: Mapping[str, str], revision: int) -> None:
        self._dirty = False
        self._backoff.reset()
        self._written = {key: value for key, value in wanted.items() if key not in others}
        self._held_elsewhere = set(others)
        self._revisions = {key: self._revisions[key] for key in self._written if key in self._revisions}
        self._snapshot_revision = max(self._snapshot_revision, revision)
        self._revision = max(self._revision, revision)
        self.synced.set()
        metrics.LAST_FULL_SYNC.set(time.time())
        self._follow_host()

    def _fought(self, actual: Mapping[str, object], wanted: Mapping[str, str]) -> set[str]:
        """Keys we had written that someone else changed again, too often: left as they are for now, so that
        two writers wanting them differently do not rewrite them forever."""
        changed = {key for key, value in wanted.items()
                   if self._written.get(key) == value and actual.get(key, None) != value}
        fought = {key for key in changed if not self._flaps.allow(key)}
        if fought:
            log.error("%d keys (%s, …) keep being changed by someone else; not restoring them for now. Is another "
                      "agent registering the same containers under another host name?", len(fought), min(fought))
        return fought

    def _group_plans(self, actual: Mapping[str, object]) -> list[tuple[str, Plan, bool]]:
        """One plan per desired group (a key shared by groups goes with the first), then the stale keys."""
        plans, seen = [], set()
        for group in self._desired.group_names():
            keys = set(self._desired.group(group)) - seen
            seen |= keys
            present = {key: actual[key] for key in keys if key in actual}
            plans.append((group, diff(self._desired.values(keys), present, self._rank), bool(present)))
        stale = {key: value for key, value in actual.items() if key not in self._desired}
        plans.append((STALE_GROUP, diff({}, stale, self._rank), True))
        return [(group, plan, existed) for group, plan, existed in plans if plan]

    def _spare_shared(self, plan: Plan) -> Plan:
        """Drop the deletes of shared keys another host's key still stands beside (one read of their group)."""
        shared = [op.key for op in plan.deletes if self._shared(op.key)]
        if not shared:
            return plan
        try:
            stored, _ = self._etcd.read(prefixes={key.rsplit("/", 1)[0] + "/" for key in shared})
        except (EtcdUnavailable, EtcdRequestError):
            return plan  # the delete fails the same way; the next comparison sorts it out
        staying = still_shared(stored, {op.key for op in plan.ops if isinstance(op, Delete)}, self._shared)
        for key in staying:
            self._written.pop(key, None)
        return Plan(plan.puts, tuple(op for op in plan.deletes if op.key not in staying))

    def _set_marker(self, marker: Marker) -> None:
        self._marker = marker
        self._desired.replace(MARKER_GROUP, {self._marker_key: marker.encode()})

    def _update_record(self) -> set[str]:
        """With TTL 0 the marker records the keys no host index finds again; returns the marker key when
        that changed it."""
        if self._lease.ttl or not self._desired.has_group(MARKER_GROUP):
            return set()
        record = tuple(sorted(key for key in self._desired.keys() if self._recorded(key)))
        if record == self._marker.keys:
            return set()
        self._set_marker(self._marker.with_keys(record))
        return {self._marker_key}

    def _follow_host(self) -> None:
        """Watch this host's host-scoped prefixes, its marker, and the groups of the services it runs."""
        wanted = self._desired.keys()
        prefixes = {prefix for layout in self._layouts for prefix in layout.watched(wanted)}
        self._follow(prefixes | {self._marker_key}, self._revision + 1)

    def _apply(self, plans: Sequence[Plan]) -> bool:
        """Write the plans; True when all of it is in etcd. Independent transactions are pipelined: etcd
        commits concurrent requests together, so a bulk load is not one disk sync per transaction."""
        chains = transaction_chains(plans)
        if len(chains) <= 1:
            return all(self._apply_chain(chain) for chain in chains)
        return all(list(gevent.pool.Pool(PIPELINE).imap_unordered(self._apply_chain, chains)))

    def _apply_chain(self, chain: Sequence[Txn]) -> bool:
        for ops in chain:
            if not self._apply_txn(ops):
                return False
        return True

    def _apply_txn(self, ops: Txn) -> bool:
        lease = self._lease.id
        try:
            revision = self._etcd.txn(ops, lease)
        except LeaseNotFound:
            self._mark_dirty(f"lease {lease:x} not found")
            self._commands.put(LeaseLost(lease))
            return False
        except (EtcdUnavailable, EtcdRequestError) as exc:
            self._mark_dirty(f"write failed: {exc}")
            return False
        for op in ops:
            if isinstance(op, Put):
                self._written[op.key] = op.value
            else:
                self._written.pop(op.key, None)
            self._revisions[op.key] = revision
        self._revision = max(self._revision, revision)
        return True

    def _revoke(self) -> None:
        try:
            self._lease.revoke()
        except (EtcdUnavailable, EtcdRequestError) as exc:
            log.error("SIGTERM: could not revoke lease %x, keys expire in %ds: %s", self._lease.id,
                      self._lease.granted, exc)
            self.exit_code = 1
            return
        log.info("SIGTERM: revoked lease %x; this host's keys are gone", self._lease.id)

    def _mark_dirty(self, why: str) -> None:
        if not self._dirty:
            log.warning("etcd out of step (%s); will compare in full and retry", why)
        self._dirty = True
        self._retry_at = time.monotonic() + self._backoff.next_delay()

    def _layout_of(self, key: str) -> Layout | None:
        for layout in self._layouts:
            if key.startswith(layout.root + "/"):
                return layout
        return None

    def _rank(self, key: str) -> int:
        layout = self._layout_of(key)
        return layout.rank(key) if layout else 0

    def _shared(self, key: str) -> bool:
        layout = self._layout_of(key)
        return bool(layout and layout.shared(key))

    def _recorded(self, key: str) -> bool:
        layout = self._layout_of(key)
        return bool(layout and layout.recorded(key))

    def _host_scoped(self, key: str) -> bool:
        return key == self._marker_key or any(key.startswith(layout.host_prefixes()) for layout in self._layouts)

    def _warn_shared_conflicts(self, others: Mapping[str, str], wanted: Mapping[str, str]) -> None:
        for key in sorted(key for key, value in others.items() if value != wanted[key]):
            if key not in self._conflicts_warned:
                self._conflicts_warned.add(key)
                log.warning("%s is %r on another host, %r here: containers of one service should publish the "
                            "same ports; the last writer wins", key, others[key], wanted[key])

    def _group_name(self, group: str) -> str:
        return "agent marker" if group == MARKER_GROUP else self._names.get(group, group[:12])

    def _log_change(self, group: str, plan: Plan, why: str, existed: bool) -> None:
        if group == STALE_GROUP:
            log.info("deleted %d stale keys of this host (%s)", len(plan.deletes), why)
            return
        name = self._group_name(group)
        if not self._desired.has_group(group):
            verb = "removed"
            metrics.REMOVALS.labels("ok").inc()
            self._names.pop(group, None)
        else:
            verb = "updated" if existed else "registered"
            metrics.REGISTRATIONS.labels("ok").inc()
        log.info("%s %s (%s): %d puts, %d deletes", verb, name, why, len(plan.puts), len(plan.deletes))

