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


def test_an_unexpected_failure_stops_like_sigint_and_keeps_the_keys():
    """Audit: revoking on an unexpected error (instead of SIGINT's stop) left every unit test green."""
    from agent.runtime.arbiter import Crash

    etcd = FakeEtcd()
    adopted = etcd.lease_grant(30)
    etcd.put("/registry/hosts/h/web", "c" * 64, lease=adopted)
    agent = Agent(load([], {"EC_REGISTRATOR_HOST": "h"}))
    agent.lease = HostLease(etcd, 30)
    agent.lease.id = adopted
    assert agent.handle_crash(Crash("events", RuntimeError("boom"))) == 1
    assert adopted in etcd.leases and "/registry/hosts/h/web" in etcd.kvs


class Part:
    """What Agent.status asks of its writer, follower and lease."""

    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)

    def status(self) -> dict[str, float]:
        return {"in_sync": 1.0}

    def fresh(self) -> bool:
        return True


@pytest.mark.parametrize("connected", [True, False])
def test_ready_needs_dockers_event_stream(connected):
    """Audit: /readyz ignoring whether Docker's event stream is open left every unit test green."""
    agent = Agent(load([], {"EC_REGISTRATOR_HOST": "h"}))
    agent.writer, agent.lease, agent.follower = Part(), Part(), Part(connected=connected)  # type: ignore[assignment]
    assert agent.status()["ready"] == float(connected)
