"""Reads this host's keys from etcd for a full comparison, bounded by the host, never by the fleet (SPEC §6):
the keys it wants, the keys on its lease, and what agent/runtime/hostkeys.py reads from those."""

from __future__ import annotations

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import LeaseNotFound
from agent.core.hoststate import HostState
from agent.core.kv import KeyValue
from agent.runtime.hostkeys import read_host_keys, under

__all__ = ["read_host", "read_host_keys", "under"]


def read_host(etcd: Etcd, lease: int, state: HostState) -> tuple[list[KeyValue], int]:
    """What a full comparison reads: every key of this host's that etcd holds (`read_host_keys`), starting from
    the keys on its lease; raises LeaseNotFound when that lease is gone."""
    on_lease: tuple[str, ...] = ()
    if lease:
        info = etcd.lease_info(lease, keys=True)
        if not info.alive:
            raise LeaseNotFound(f"lease {lease:x} not found")
        on_lease = info.keys
    return read_host_keys(etcd, state.layouts, state.marker_key, on_lease, state.desired.keys(),
                          state.desired.container_ids())
