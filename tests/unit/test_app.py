"""The arbiter's shutdown before the writer runs: a lease already claimed is revoked by SIGTERM, kept by SIGINT."""

import pytest

from agent.daemon.app import Agent
from agent.daemon.lease import HostLease
from agent.daemon.settings import load
from tests.fakes.etcd import FakeEtcd


@pytest.mark.parametrize(("revoke", "kept"), [(True, False), (False, True)])
def test_a_signal_during_start_up_after_the_lease_was_adopted(revoke, kept):
    etcd = FakeEtcd()
    adopted = etcd.lease_grant(30)
    etcd.put("/registry/hosts/h/web", "c" * 64, lease=adopted)
    agent = Agent(load([], {"EC_REGISTRATOR_HOST": "h"}))
    agent.lease = HostLease(etcd, 30)
    agent.lease.id = adopted  # claimed; the writer has not started yet
    assert agent._shutdown(revoke=revoke) == 0
    assert (adopted in etcd.leases) is kept
    assert ("/registry/hosts/h/web" in etcd.kvs) is kept
