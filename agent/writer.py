"""The one writer: every etcd change of this host goes through `Writer`, one command at a time, in order."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import gevent.event
import gevent.pool
import gevent.queue

from agent import metrics
from agent.commands import Command, ContainerChanged, KeysChanged, LeaseLost, Resync, Shutdown, Wipe
from agent.container import Inspect, container_id, describe
from agent.desired import MARKER_GROUP, DesiredState
from agent.docker_api import STOPPING_ACTIONS, Docker, DockerUnavailable
from agent.etcd import Etcd, EtcdRequestError, EtcdUnavailable, LeaseNotFound, WatchEvent
from agent.flapguard import FlapGuard
from agent.healing import held_elsewhere, is_damage
from agent.heartbeat import LeaseRef
from agent.layouts import Layout, keys_of
from agent.marker import STOPPED, Marker
from agent.ownership import held_by_others, owned_keys
from agent.plan import Plan, Put, Txn, diff, transaction_chains

log = logging.getLogger(__name__)

INSPECT_CONCURRENCY = 16
RETRY_DELAY = 0.5
PIPELINE = 16  # transactions in flight at once during a bulk write
STALE_GROUP = "stale keys"


class Writer:
    def __init__(self, commands: gevent.queue.Queue, etcd: Etcd, docker: Docker, layouts: Sequence[Layout],
                 marker: Marker, marker_key: str, ttl: int, lease: LeaseRef, resync_every: int) -> None:
        self._commands = commands
        self._etcd = etcd
        self._docker = docker
        self._layouts = layouts
        self._marker = marker
        self._marker_key = marker_key
        self._ttl = ttl
        self._lease = lease
        self._resync_every = resync_every
        self._desired = DesiredState()
        self._written: dict[str, str] = {}
        self._revisions: dict[str, int] = {}  # the revision of our last put or delete of each key
        self._snapshot_revision = 0  # the last full comparison saw everything up to this revision
        self._names: dict[str, str] = {}
        self._flaps = FlapGuard()
        self._conflicts_warned: set[str] = set()
        self._held_elsewhere: set[str] = set()  # shared keys we want that another host's lease holds
        self._dirty = True  # etcd must be compared in full before single changes can be trusted
        self._docker_read = False  # no full comparison before Docker was listed once: it would delete
        self._retry_at = 0.0
        self._next_resync = 0.0
        self.exit_code = 0
        self.synced = gevent.event.Event()

    # -- loop --------------------------------------------------------------------------------------
    def run(self) -> None:
        self._desired.replace(MARKER_GROUP, {self._marker_key: self._marker.encode()})
        self.handle_resync(Resync("start"))
        while True:
            command = self._next_command()
            if isinstance(command, Shutdown):
                self.handle_shutdown(command)
                return
            self._dispatch(command)

    def _next_command(self) -> Command:
        """The next queued command; a periodic resync when one is due; retries etcd while out of step."""
        while True:
            now = time.monotonic()
            if self._resync_every and now >= self._next_resync:
                return Resync("periodic")
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
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _dispatch(self, command: Command) -> None:
        handlers = {ContainerChanged: self.handle_container, KeysChanged: self.handle_keys_changed,
                    Resync: self.handle_resync, Wipe: self.handle_wipe, LeaseLost: self.handle_lease_lost}
        handlers[type(command)](command)  # type: ignore[operator]

    @property
    def lease(self) -> int:
        return self._lease.id

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
        affected = self._desired.replace(cid, keys)
        if self._dirty:
            return
        wanted = self._desired.values(affected)
        actual = {key: self._written[key] for key in affected if key in self._written}
        actual.update({key: wanted[key] for key in self._held_elsewhere.intersection(wanted)})
        plan = diff(wanted, actual, self._rank)
        if not plan:
            log.debug("%s: %s unchanged", command.action, self._group_name(cid))
        elif self._apply([plan]):
            self._log_change(cid, plan, command.action, existed=bool(actual))
        else:
            (metrics.REGISTRATIONS if keys else metrics.REMOVALS).inc("error")

    def handle_keys_changed(self, command: KeysChanged) -> None:
        """Self-healing: put back what someone else deleted or changed among the keys this host wants."""
        for event in command.events:
            if self._shared(event.key):
                self._note_holder(event)
        damaged = {event.key for event in command.events if self._is_foreign_damage(event)}
        if not damaged or self._dirty:
            return
        self._flaps.forget_old()
        fought = {key for key in damaged if not self._flaps.allow(key)}
        if fought:
            log.error("%d keys (%s, …) keep being changed by someone else; not restoring them for now. Is another "
                      "agent registering the same containers under another host name?", len(fought), min(fought))
            damaged -= fought
        by_group: dict[str, set[str]] = {}
        for key in damaged:
            self._written.pop(key, None)
            by_group.setdefault(self._desired.owner(key), set()).add(key)
        plans = [(group, diff(self._desired.values(keys), {}, self._rank)) for group, keys in by_group.items()]
        if self._apply([plan for _, plan in plans]):
            for group, plan in plans:
                log.info("restored %d keys of %s deleted or changed by someone else", len(plan.puts),
                         self._group_name(group))

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
        return is_damage(event, wanted, self._lease.id, seen, self._shared(event.key))

    def handle_resync(self, command: Resync) -> None:
        self._next_resync = time.monotonic() + self._resync_every
        self._read_docker()
        self._reconcile(command.reason)

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
        self.handle_resync(Resync("SIGUSR2"))

    def handle_lease_lost(self, command: LeaseLost) -> None:
        if command.lease != self._lease.id:
            return
        try:
            new_lease = self._etcd.lease_grant(self._ttl)
        except (EtcdUnavailable, EtcdRequestError) as exc:
            log.warning("lease %x lost and no new one yet: %s", command.lease, exc)
            self._dirty = True
            self._commands.put(command)
            gevent.sleep(RETRY_DELAY)
            return
        log.warning("lease %x lost; granted lease %x, writing every key again", command.lease, new_lease)
        self._lease.id = new_lease
        self._set_marker(self._marker.with_lease(new_lease))
        self._written.clear()
        self._reconcile("lease lost")

    def handle_shutdown(self, command: Shutdown) -> None:
        if command.revoke and self._lease.id:
            self._revoke()
            return
        if command.revoke:
            self._desired.reset({})
        else:
            self._set_marker(self._marker.with_state(STOPPED))
        self._reconcile("SIGTERM" if command.revoke else "SIGINT")
        self.exit_code = 1 if self._dirty else 0
        if self._dirty:
            log.error("%s: etcd could not be updated before exit", "SIGTERM" if command.revoke else "SIGINT")
        elif not command.revoke:
            log.info("SIGINT: stopped; keys left in place%s", f", expiring in {self._ttl}s" if self._ttl else "")

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
        self._names.update({container_id(item): describe(item) for item in inspects})
        marker = {MARKER_GROUP: {self._marker_key: self._marker.encode()}}
        self._desired.reset({**marker, **{cid: keys for cid, keys in groups.items() if keys}})
        return True

    def _reconcile(self, reason: str) -> None:
        """Compare the whole desired state with what etcd holds for this host and fix the difference."""
        if not self._docker_read:
            self._mark_dirty(f"{reason}: Docker not listed yet")
            return
        try:
            snapshots = [self._etcd.get_prefix(layout.root + "/") for layout in self._layouts]
            marker = self._etcd.get(self._marker_key)
        except (EtcdUnavailable, EtcdRequestError) as exc:
            self._mark_dirty(f"{reason}: cannot read etcd: {exc}")
            return
        stored = [kv for kvs, _ in snapshots for kv in kvs]
        stored += [marker] if marker and marker.key not in {kv.key for kv in stored} else []
        actual = owned_keys(stored, self._layouts, self._desired.container_ids(), self._lease.id, self._marker_key)
        wanted = self._desired.everything()
        others = held_by_others(stored, wanted, self._shared, self._lease.id)
        self._warn_shared_conflicts(others, wanted)
        actual.update({key: wanted[key] for key in others})
        plans = self._group_plans(actual)
        if not self._apply([plan for _, plan, _ in plans]):
            return
        self._dirty = False
        self._written = {key: value for key, value in wanted.items() if key not in others}
        self._held_elsewhere = set(others)
        self._revisions = {key: self._revisions[key] for key in self._written if key in self._revisions}
        self._snapshot_revision = min(revision for _, revision in snapshots)
        self.synced.set()
        metrics.LAST_FULL_SYNC.set(time.time())
        for group, plan, existed in plans:
            self._log_change(group, plan, reason, existed)
        log.debug("%s: %d containers in sync", reason, len(self._desired.container_ids()))

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

    def _set_marker(self, marker: Marker) -> None:
        self._marker = marker
        self._desired.replace(MARKER_GROUP, {self._marker_key: marker.encode()})

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
                    self._revisions[op.key] = revision
                else:
                    self._written.pop(op.key, None)
                    self._revisions.pop(op.key, None)
        return True

    def _revoke(self) -> None:
        try:
            self._etcd.lease_revoke(self._lease.id)
        except (EtcdUnavailable, EtcdRequestError) as exc:
            log.error("SIGTERM: could not revoke lease %x, keys expire in %ds: %s", self._lease.id, self._ttl, exc)
            self.exit_code = 1
            return
        log.info("SIGTERM: revoked lease %x; this host's keys are gone", self._lease.id)

    def _mark_dirty(self, why: str) -> None:
        if not self._dirty:
            log.warning("etcd out of step (%s); will compare in full and retry", why)
        self._dirty = True
        self._retry_at = time.monotonic() + RETRY_DELAY

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
            metrics.REMOVALS.inc("ok")
        else:
            verb = "updated" if existed else "registered"
            metrics.REGISTRATIONS.inc("ok")
        log.info("%s %s (%s): %d puts, %d deletes", verb, name, why, len(plan.puts), len(plan.deletes))
