"""The keys several hosts want (`B/<service>/<n>/port`) around a single change: one read each, bounded by the
keys the change touches. Before it, whether another host holds the shared keys this host has not seen yet;
after it, which of its deletes must spare a key another host's backend still stands beside."""

from __future__ import annotations

from collections.abc import Collection

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError
from agent.core.hoststate import HostState
from agent.core.ownership import still_shared
from agent.core.plan import Delete, Plan
from agent.daemon.lease import HostLease


class SharedKeys:
    def __init__(self, etcd: Etcd, lease: HostLease, state: HostState) -> None:
        self._etcd = etcd
        self._lease = lease
        self._state = state

    def learn_holders(self, affected: Collection[str]) -> None:
        """Read who holds the shared keys among `affected` this host wants and has not seen; EtcdError
        propagates (the change then waits for the next full comparison)."""
        unseen = self._state.unseen_shared(affected)
        if unseen:
            stored, _ = self._etcd.read(unseen)
            self._state.note_held(stored, self._lease.id)

    def spare(self, plan: Plan) -> Plan:
        """The plan without the deletes of shared keys another host's key still stands beside."""
        shared = [op.key for op in plan.deletes if self._state.shared(op.key)]
        if not shared:
            return plan
        try:
            stored, _ = self._etcd.read(prefixes={key.rsplit("/", 1)[0] + "/" for key in shared})
        except EtcdError:
            return plan  # the delete fails the same way; the next comparison sorts it out
        staying = still_shared(stored, {op.key for op in plan.ops if isinstance(op, Delete)}, self._state.shared)
        self._state.leave_shared(staying)
        return Plan(plan.puts, tuple(op for op in plan.deletes if op.key not in staying))
