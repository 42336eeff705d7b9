"""The arbiter's shutdown: before the writer runs, a lease already claimed is revoked by SIGTERM, kept by SIGINT;
with a writer that cannot finish in time, the lease's owner keeps the signal's promise. Readiness."""

import gevent
import pytest

from agent.core.hoststate import HostState
from agent.core.marker import RUNNING, STOPPED, Marker, StoredMarker, marker_key
from agent.daemon.app import Agent
from agent.daemon.lease import HostLease
from agent.daemon.settings import load
from agent.layouts.ec import EcLayout
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


@pytest.mark.parametrize(("connected", "answering"), [(True, True), (False, True), (True, False)])
def test_ready_needs_dockers_event_stream_and_answers(connected, answering):
    """Audit: /readyz ignoring whether Docker's event stream is open left every unit test green. A Docker that
    has not answered for EC_REGISTRATOR_DOCKER_TIMEOUT is not ready either (issue 22)."""
    agent = Agent(load([], {"EC_REGISTRATOR_HOST": "h"}))
    agent.writer, agent.lease, agent.follower = Part(), Part(), Part(connected=connected)  # type: ignore[assignment]
    agent.inspector = Part(silence=Part(answering=lambda: answering))  # type: ignore[assignment]
    assert agent.status()["ready"] == float(connected and answering)
    assert agent.status()["docker_answering"] == float(answering)


@pytest.mark.parametrize("revoke", [True, False])
def test_a_writer_that_cannot_finish_in_time_leaves_the_promise_to_the_lease(revoke):
    """Issue 22: the writer busy (a long write to a slow etcd) past the grace: SIGTERM still revokes, SIGINT still
    marks the host stopped, through the lease's owner, and the exit status is 0."""
    etcd = FakeEtcd()
    agent = Agent(load([], {"EC_REGISTRATOR_HOST": "h"}))
    agent.lease = HostLease(etcd, 30)
    lease = agent.lease.grant() or agent.lease.id
    key = marker_key("/registry", "h")
    marker = Marker("h", lease, RUNNING, "2026-01-01T00:00:00+00:00")
    etcd.put(key, marker.encode(), lease=lease)
    etcd.put("/registry/hosts/h/web", "c" * 64, lease=lease)
    agent.writer = Part(state=HostState([EcLayout("/registry", "h")], marker, key, records=False),  # type: ignore
                        exit_code=1)
    agent._greenlets["writer"] = busy = gevent.spawn(gevent.sleep, 60)
    assert agent._shutdown(revoke=revoke) == 0
    assert busy.dead
    assert (lease in etcd.leases) is not revoke
    assert ("/registry/hosts/h/web" in etcd.kvs) is not revoke
    if not revoke:
        assert StoredMarker.decode(etcd.value(key)).state == STOPPED and etcd.kvs[key].lease == lease
