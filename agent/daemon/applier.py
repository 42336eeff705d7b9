"""How the writer's plans reach etcd: their transactions, on this host's lease, independent ones pipelined (etcd
commits concurrent requests together, so a bulk load is not one disk sync per transaction). What was written
is told to the host state; a failure to the writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gevent.pool

from agent.adapters.etcd import MAX_IN_FLIGHT, Etcd
from agent.adapters.etcd_errors import EtcdError, LeaseNotFound
from agent.core.hoststate import HostState
from agent.core.plan import Plan, Txn, transaction_chains
from agent.daemon.lease import HostLease

PIPELINE = MAX_IN_FLIGHT  # transactions in flight at once during a bulk write


class Applier:
    def __init__(self, etcd: Etcd, lease: HostLease, state: HostState, failed: Callable[[EtcdError], None],
                 lease_lost: Callable[[int], None]) -> None:
        self._etcd = etcd
        self._lease = lease
        self._state = state
        self._failed = failed  # told why a write failed: etcd is out of step now
        self._lease_lost = lease_lost

    def apply(self, plans: Sequence[Plan]) -> bool:
        """Write the plans; True when all of it is in etcd."""
        chains = transaction_chains(plans)
        if len(chains) <= 1:
            return all(self._apply_chain(chain) for chain in chains)
        return all(list(gevent.pool.Pool(PIPELINE).imap_unordered(self._apply_chain, chains)))

    def _apply_chain(self, chain: Sequence[Txn]) -> bool:
        return all(self._apply_txn(ops) for ops in chain)

    def _apply_txn(self, ops: Txn) -> bool:
        lease = self._lease.id
        try:
            revision = self._etcd.txn(ops, lease)
        except EtcdError as exc:
            self._failed(exc)
            if isinstance(exc, LeaseNotFound):
                self._lease_lost(lease)
            return False
        self._state.applied(ops, revision)
        return True
