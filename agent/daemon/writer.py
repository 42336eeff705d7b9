"""The one writer: every etcd change of this host goes through `Writer`, one message at a time, in order.
It owns the queue loop, the deadlines, the reads of etcd and the application of plans; what the host wants and
wrote lives in the pure `HostState`. It never waits on Docker: it asks the Docker reader (`read_docker`) for a
full read, and what Docker said arrives as messages (`ContainerSeen`, `HostListed`)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Sequence

import gevent
import gevent.event
import gevent.queue

from agent import metrics
from agent.adapters.docker_engine import KILL
from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError, LeaseNotFound
from agent.core.container import Inspect, container_id, describe, is_leaving, stop_signal
from agent.core.hoststate import Comparison, GroupPlan, HostState
from agent.core.marker import STOPPED, Marker
from agent.core.messages import (
    ContainerChanged,
    ContainerSeen,
    HoldersSilent,
    HostListed,
    KeysChanged,
    LeaseLost,
    Message,
    Resync,
    Shutdown,
    Wipe,
)
from agent.core.schedule import Schedule
from agent.daemon.applier import Applier
from agent.daemon.changelog import ChangeLog
from agent.daemon.hostread import read_host
from agent.daemon.lease import HostLease
from agent.daemon.nospace import OutOfSpace
from agent.daemon.shared import SharedKeys
from agent.layouts import Layout, keys_of
from agent.retry import ETCD_WRITE, INSPECT_AGAIN, Backoff, spread

log = logging.getLogger(__name__)

RETURNING = frozenset({"start", "restart"})  # a leaving container started again is registered again
STOP_DEFAULT = int(signal.SIGTERM)  # the stop signal of a container not inspected yet

Follow = Callable[[set[str], int], None]  # the prefixes (or single keys) to watch, from a revision on
ReadDocker = Callable[[Resync], None]  # asks the Docker reader for every running container (HostListed follows)


class Writer:
    def __init__(self, inbox: gevent.queue.Queue, etcd: Etcd, read_docker: ReadDocker, layouts: Sequence[Layout],
                 marker: Marker, marker_key: str, lease: HostLease, resync_every: int, follow: Follow) -> None:
        self._inbox = inbox
        self._etcd = etcd
        self._read_docker = read_docker
        self._lease = lease
        self._follow = follow
        self.state = HostState(layouts, marker, marker_key, records=not lease.ttl)
        self._shared = SharedKeys(etcd, lease, self.state)
        self._applier = Applier(etcd, lease, self.state, self._write_failed, lambda lost: inbox.put(LeaseLost(lost)))
        self._nospace = OutOfSpace(etcd)
        self._changelog = ChangeLog()
        self._docker_read = False  # no full comparison before Docker was listed once: it would delete
        self._unread: frozenset[str] = frozenset()  # running containers the last read could not inspect
        self._stop_signals: dict[str, int] = {}  # container id -> the signal `docker stop` sends it first
        self._leaving: set[str] = set()  # running containers told to stop: out until Docker starts them again
        self._reread = Backoff(INSPECT_AGAIN)
        self._backoff = Backoff(ETCD_WRITE)
        self._schedule = Schedule(resync_every)
        self._schedule.retry_in(0)  # out of step until the first full comparison
        self.exit_code = 0
        self.synced = gevent.event.Event()

    # -- loop --------------------------------------------------------------------------------------
    def run(self) -> None:
        self.handle_resync(Resync("start"))
        while True:
            message = self._next_message()
            if isinstance(message, Shutdown):
                self.handle_shutdown(message)
                return
            self.handle(message)

    def _next_message(self) -> Message:
        """The next queued message; a periodic resync or a repair when one is due; retries while out of
        step with etcd."""
        while True:
            if self._schedule.resync_due():
                return Resync("periodic")
            if self._schedule.heal_due():
                self._heal()
            if self._schedule.retry_due():
                self._retry()
            try:
                return self._inbox.get(timeout=self._schedule.wait_time())
            except gevent.queue.Empty:
                continue

    def _retry(self) -> None:
        """Out of step with etcd: compare in full again (before Docker's first listing, the Docker reader is
        trying until it has one, and the comparison waits for it); while etcd is out of space, once it is not."""
        if self._nospace.still():
            self._schedule.retry_in(self._backoff.next_delay())
            return
        self._reconcile("retry")

    def handle(self, message: Message) -> None:
        handlers = {ContainerSeen: self.handle_container, HostListed: self.handle_listed,
                    KeysChanged: self.handle_keys_changed, Resync: self.handle_resync, Wipe: self.handle_wipe,
                    LeaseLost: self.handle_lease_lost, HoldersSilent: self.handle_holders_silent}
        handlers[type(message)](message)  # type: ignore[operator]

    def status(self) -> dict[str, float]:
        return {"registered_containers": float(len(self.state.desired.container_ids())),
                "written_keys": float(len(self.state.written)),
                "in_sync": float(self.synced.is_set() and not self._schedule.out_of_step)}

    # -- handlers ----------------------------------------------------------------------------------
    def handle_container(self, message: ContainerSeen) -> None:
        change, inspect = message.change, message.inspect
        cid = change.container_id
        if change.action == KILL and not self._told_to_leave(change):
            return
        if change.action in RETURNING:
            self._leaving.discard(cid)
        keys = self._container_keys(inspect) if inspect else {}
        if inspect:
            self._changelog.names[cid] = describe(inspect)
        affected = self.state.want_container(cid, keys)
        self._changelog.disputes(self.state.desired.disputed(affected), self.state.desired.owner)
        if self._schedule.out_of_step:
            return
        try:
            self._shared.learn_holders(affected)
        except EtcdError as exc:
            self._out_of_step(f"cannot read etcd: {exc}")
            return
        plan, existed = self.state.change_plan(affected)
        plan = self._shared.spare(plan)
        known = self.state.revision  # a prefix this change adds is watched from here on, not from its write
        if not plan:
            log.debug("%s: %s unchanged", change.action, self._changelog.name(cid))
        elif self._applier.apply([plan]):
            self._changelog.change(GroupPlan(cid, plan, existed), change.action, removed=not keys)
            self._follow_host(known + 1)
        else:
            (metrics.REGISTRATIONS if keys else metrics.REMOVALS).labels("error").inc()

    def _told_to_leave(self, message: ContainerChanged) -> bool:
        """A `kill` event: its container's stop signal (or SIGKILL) says it is leaving (SPEC §6); its keys go at
        once, while it may still finish its requests. Any other signal changes nothing."""
        cid = message.container_id
        stop = self._stop_signals.get(cid, STOP_DEFAULT)
        if not is_leaving(stop, message.signal):
            log.debug("%s: signal %s is not its stop signal (%d): nothing changes", self._changelog.name(cid),
                      message.signal or "(none named)", stop)
            return False
        self._leaving.add(cid)
        return True

    def handle_keys_changed(self, message: KeysChanged) -> None:
        """Self-healing: a change by someone else to what this host wants, or under its host-scoped
        prefixes, makes a full comparison due after a random fraction of a second."""
        metrics.WATCH_EVENTS.inc(len(message.events))
        if self.state.damage(message.events, self._lease.id) and not self._schedule.out_of_step:
            self._schedule.heal_in(spread())

    def handle_holders_silent(self, message: HoldersSilent) -> None:
        """Shared keys held by the lease of a host that is gone: put on ours before that lease expires."""
        taken = self.state.take_over(message.leases)
        if not taken or self._schedule.out_of_step:
            return
        plan, _ = self.state.change_plan(taken)
        if plan and self._applier.apply([plan]):
            log.info("took over %d shared keys (%s, …) from lease %s, silent past the take-over threshold",
                     len(plan.puts), min(taken), ", ".join(f"{lease:x}" for lease in message.leases))

    def _heal(self) -> None:
        self._schedule.healed()
        damaged = self.state.take_broken()
        self.state.forget_old_fights()
        if self._reconcile("self-healing") and damaged:
            log.info("restored this host's keys after someone else changed %d of them (%s, …)", len(damaged),
                     min(damaged))

    def handle_resync(self, message: Resync) -> None:
        """A full comparison, once the Docker reader has listed every container (`handle_listed`)."""
        self._schedule.resynced()
        if message.reason == "periodic":
            self._list_members()
        self._read_docker(message)

    def handle_listed(self, message: HostListed) -> None:
        self._want_listed(message)
        self._reconcile(message.reason)

    def _list_members(self) -> None:
        """Follow a cluster whose members change: every client fails over between the members listed now."""
        before = self._etcd.endpoints
        try:
            after = self._etcd.discover_members()
        except EtcdError as exc:
            log.debug("cannot list etcd's members: %s", exc)
            return
        if after != before:
            log.info("etcd endpoints now: %s", ", ".join(map(str, after)))

    def handle_wipe(self, message: Wipe) -> None:
        for layout in self.state.layouts:
            try:
                deleted = self._etcd.delete_prefix(layout.root + "/")
            except EtcdError as exc:
                log.error("SIGUSR2: could not wipe %s: %s", layout.root, exc)
                continue
            log.warning("SIGUSR2: wiped %s (%d keys, all hosts)", layout.root, deleted)
        self.state.forget_written()
        self._schedule.retry_in(0)
        gevent.sleep(spread())
        self._reconcile("SIGUSR2")  # this host again at once, from what is known; then as Docker lists it now
        self.handle_resync(Resync("SIGUSR2"))

    def handle_lease_lost(self, message: LeaseLost) -> None:
        if message.lease != self._lease.id:
            return
        gevent.sleep(spread())
        try:
            self._lease.grant()
        except EtcdError as exc:  # the retry's comparison finds the lease gone again
            self._out_of_step(f"lease {message.lease:x} lost and no new one yet: {exc}")
            return
        log.warning("lease %x lost; granted lease %x, writing every key again", message.lease, self._lease.id)
        self._move_to_new_lease()
        self._reconcile("lease lost")

    def _replace_lease(self) -> None:
        """An adopted lease of another TTL: move every key to a new lease of ours, then revoke the old one.
        Consumers see the keys put again, never deleted."""
        try:
            old = self._lease.grant()
        except EtcdError as exc:
            log.warning("cannot replace adopted lease %x yet: %s", self._lease.id, exc)
            return
        self._move_to_new_lease()
        if not self._reconcile("lease replaced", replaced=old):
            return
        try:
            self._lease.revoke(old)
        except EtcdError as exc:  # the keys are on the new lease already: the old one just runs out
            log.warning("moved this host's keys from adopted lease %x to lease %x (TTL %ds); the old lease could "
                        "not be revoked and expires by itself: %s", old, self._lease.id, self._lease.ttl, exc)
            return
        log.info("moved this host's keys from adopted lease %x to lease %x (TTL %ds)", old, self._lease.id,
                 self._lease.ttl)

    def _move_to_new_lease(self) -> None:
        self.state.set_marker(self.state.marker.with_lease(self._lease.id))
        self.state.forget_written()

    def handle_shutdown(self, message: Shutdown) -> None:
        reason = "SIGTERM" if message.revoke else "SIGINT"
        if message.revoke and self._lease.id:
            self.exit_code = 0 if self._lease.release(reason) else 1
            return
        if message.revoke:
            self.state.want_nothing()
            self._docker_read = True  # nothing is wanted: no listing is needed to know it
            ok = self._reconcile(reason)
        else:
            ok = self._mark_stopped()
        self.exit_code = 0 if ok else 1
        if not ok:
            log.error("%s: etcd could not be updated before exit", reason)
        elif not message.revoke:
            ttl = self._lease.granted if self._lease.id else 0
            log.info("SIGINT: stopped; keys left in place%s", f", expiring in {ttl}s" if ttl else "")

    def _mark_stopped(self) -> bool:
        """SIGINT: the marker says `stopped`, the rest stays as it is (for an agent that adopts the lease)."""
        self.state.set_marker(self.state.marker.with_state(STOPPED))
        plan, _ = self.state.change_plan({self.state.marker_key})
        return self._applier.apply([plan])

    # -- work --------------------------------------------------------------------------------------
    def _container_keys(self, inspect: Inspect) -> dict[str, str]:
        cid = container_id(inspect)
        keys, notes = keys_of(inspect, self.state.layouts)
        self._changelog.left_out(cid, describe(inspect), notes)
        self._stop_signals[cid] = stop_signal(inspect)
        return {} if cid in self._leaving else keys

    def _want_listed(self, listing: HostListed) -> None:
        """Rebuild the desired state from every running container (in start order: of two containers wanting
        one key, the last wins). A container that could not be inspected keeps what is known of it, and Docker
        is read again soon."""
        self._docker_read = True
        running = {container_id(item) for item in listing.inspects} | set(listing.unread)
        self._leaving &= running  # a leaving container that died is registered again by its next start
        self._stop_signals = {cid: stop for cid, stop in self._stop_signals.items() if cid in running}
        groups = {container_id(item): self._container_keys(item) for item in listing.inspects}
        self._changelog.names = {container_id(item): describe(item) for item in listing.inspects}
        known = {cid: self.state.desired.group(cid) for cid in listing.unread if self.state.desired.has_group(cid)}
        self.state.want_containers({**{cid: keys for cid, keys in groups.items() if keys}, **known})
        self._unread = listing.unread
        if listing.unread:
            self._schedule.resync_in(self._reread.next_delay())
        else:
            self._reread.reset()
        self._changelog.disputes(self.state.desired.disputed(self.state.desired.keys()), self.state.desired.owner)

    def _reconcile(self, reason: str, replaced: int = 0) -> bool:
        """Compare the whole desired state with what etcd holds for this host and fix the difference.
        Reads only this host's keys (SPEC §6). True when etcd is in step afterwards."""
        if not self._docker_read:  # the Docker reader is trying until it has a listing; until then, wait
            self._schedule.retry_in(self._backoff.next_delay())
            return False
        try:
            stored, revision = read_host(self._etcd, self._lease.id, self.state)
        except EtcdError as exc:
            if isinstance(exc, LeaseNotFound):
                self._inbox.put(LeaseLost(self._lease.id))
            metrics.REGISTRATIONS.labels("error").inc()
            self._out_of_step(f"{reason}: cannot read etcd: {exc}")
            return False
        comparison = self.state.compare(stored, self._lease.id, replaced, complete=not self._unread)
        self._changelog.comparison(comparison)
        if not self._applier.apply([item.plan for item in comparison.plans]):
            metrics.REGISTRATIONS.labels("error").inc()
            return False
        self._in_step(comparison, revision)
        for item in comparison.plans:
            self._changelog.change(item, reason, removed=not self.state.desired.has_group(item.group))
        log.debug("%s: %d containers in sync", reason, len(self.state.desired.container_ids()))
        if not replaced and self._lease.needs_replacement():
            self._replace_lease()
        return True

    def _in_step(self, comparison: Comparison, revision: int) -> None:
        self._nospace.over()
        self.state.in_step(comparison, revision)
        self._schedule.in_step()
        self._backoff.reset()
        if not self.synced.is_set():
            log.info("ready: this host's %d containers are in etcd (%d keys); following Docker and etcd",
                     len(self.state.desired.container_ids()), len(self.state.written))
        self.synced.set()
        metrics.LAST_FULL_SYNC.set(time.time())
        self._follow_host(revision + 1)

    def _follow_host(self, from_revision: int) -> None:
        """Watch this host's host-scoped prefixes, its marker, and the groups of the services it runs; a prefix
        not watched yet from `from_revision` on: after a full comparison, the revision after its read, so that a
        change someone else made between that read and the comparison's own writes is seen (our own writes are
        not damage)."""
        self._follow(self.state.watched(), from_revision)

    def _write_failed(self, error: EtcdError) -> None:
        if self._nospace.explains(error):  # said once an episode, in the operator's terms
            self._schedule.retry_in(self._backoff.next_delay())
        else:
            self._out_of_step(f"write failed: {error}")

    def _out_of_step(self, why: str) -> None:
        if not self._schedule.out_of_step:
            log.warning("etcd out of step (%s); will compare in full and retry", why)
        self._schedule.retry_in(self._backoff.next_delay())
