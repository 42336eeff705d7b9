"""The host's lease: the claim decision (SPEC §6 takeover), HostLease against a fake etcd, the heartbeat."""

import time
import types

import gevent
import pytest

import agent.daemon.lease
from agent.adapters.etcd_errors import EtcdUnavailable
from agent.core.kv import LeaseInfo
from agent.core.marker import RUNNING, STOPPED, Marker, StoredMarker
from agent.daemon.lease import Claim, Heartbeat, HostLease, judge_claim, takeover_silence
from tests.fakes.etcd import FakeEtcd

H, KEY, LEASE = "h1", "/registry/agents/h1", 0x5EED


def stored(state):
    return StoredMarker(state, agent="1-aaaa")


def alive(granted=30, silence=0):
    return LeaseInfo(granted, granted - silence)


DEAD = LeaseInfo(0, -1)


@pytest.mark.parametrize(("marker", "lease", "info", "ttl", "claim"), [
    (None, 0, None, 30, Claim.GRANT),  # no marker
    (stored(RUNNING), 0, None, 30, Claim.GRANT),  # a marker without a lease (a TTL 0 agent's)
    (stored(STOPPED), 0, None, 30, Claim.GRANT),
    (stored(RUNNING), LEASE, DEAD, 30, Claim.GRANT),  # its lease is gone
    (stored(STOPPED), LEASE, DEAD, 30, Claim.GRANT),
    (stored(STOPPED), LEASE, alive(), 30, Claim.ADOPT),
    (stored(STOPPED), LEASE, alive(10), 30, Claim.ADOPT),  # another TTL: adopted all the same
    (stored(RUNNING), LEASE, alive(silence=0), 30, Claim.WAIT),  # a live agent keeps it alive
    (stored(RUNNING), LEASE, alive(silence=14), 30, Claim.WAIT),  # 14 is not more than 10 + 1 + 3
    (stored(RUNNING), LEASE, alive(silence=15), 30, Claim.ADOPT),  # crashed: no keepalive for too long
    (stored(RUNNING), LEASE, alive(2, silence=1), 2, Claim.WAIT),
    (stored(RUNNING), LEASE, alive(4, silence=3), 4, Claim.ADOPT),
    # TTL 0 here: no lease is carried on, but a live agent with a lease is still waited for
    (stored(STOPPED), LEASE, alive(), 0, Claim.GRANT),
    (stored(RUNNING), LEASE, alive(silence=1), 0, Claim.WAIT),
    (stored(RUNNING), LEASE, alive(silence=20), 0, Claim.GRANT),
    (stored(RUNNING), 0, None, 0, Claim.GRANT),
    (StoredMarker.decode("not a marker"), LEASE, alive(), 30, Claim.GRANT),
    (StoredMarker.decode('{"state": "paused", "agent": "x"}'), LEASE, alive(), 30, Claim.GRANT),
])
def test_judge_claim(marker, lease, info, ttl, claim):
    assert judge_claim(marker, lease, info, ttl) is claim


@pytest.mark.parametrize(("granted", "silence"), [(2, 2 / 3 + 1.2), (4, 4 / 3 + 1.4), (30, 14.0)])
def test_takeover_silence(granted, silence):
    assert takeover_silence(granted) == pytest.approx(silence)
    assert takeover_silence(granted) > granted / 3  # never less than one keepalive interval


def held_by_earlier_agent(etcd, ttl, state):
    lease = etcd.lease_grant(ttl)
    etcd.put(KEY, Marker(H, lease, state, "2026-01-01T00:00:00+00:00").encode(), lease)
    etcd.put("/registry/hosts/h1/web", "c" * 64, lease)
    return lease


def test_claim_grants_a_new_lease_when_nobody_holds_the_host():
    etcd = FakeEtcd()
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(KEY, H) is Claim.GRANT
    assert lease.id in etcd.leases and etcd.lease_info(lease.id).granted == 30
    assert (lease.granted, lease.interval, lease.needs_replacement()) == (30, 10, False)


def test_claim_with_ttl_0_takes_no_lease():
    etcd = FakeEtcd()
    lease = HostLease(etcd, 0, clock=etcd.clock)
    assert lease.claim(KEY, H) is Claim.GRANT
    assert (lease.id, etcd.leases, lease.needs_replacement(), lease.fresh()) == (0, {}, False, True)


def test_claim_adopts_a_stopped_agents_lease_at_its_own_ttl():
    etcd = FakeEtcd()
    old = held_by_earlier_agent(etcd, 9, STOPPED)
    etcd.advance(5)
    revision = etcd.rev
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(KEY, H) is Claim.ADOPT
    assert (lease.id, lease.granted, lease.interval) == (old, 9, 3)
    assert lease.needs_replacement()
    assert etcd.lease_info(old).remaining == 9  # refreshed at once
    assert etcd.rev == revision  # nothing written, nothing deleted


def test_claim_adopting_a_lease_of_our_ttl_needs_no_replacement():
    etcd = FakeEtcd()
    old = held_by_earlier_agent(etcd, 30, STOPPED)
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(KEY, H) is Claim.ADOPT
    assert (lease.id, lease.needs_replacement()) == (old, False)


def test_claim_grants_when_the_earlier_lease_expired():
    etcd = FakeEtcd()
    old = held_by_earlier_agent(etcd, 10, STOPPED)
    etcd.put(KEY, Marker(H, old, STOPPED, "x").encode())  # the marker outlives the lease (lease 0)
    etcd.advance(11)
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(KEY, H) is Claim.GRANT
    assert lease.id != old and lease.id in etcd.leases


def sleeping_on(etcd, monkeypatch):
    """gevent.sleep inside agent.daemon.lease moves the fake clock instead of waiting."""
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        etcd.advance(seconds)

    monkeypatch.setattr(agent.daemon.lease, "gevent", types.SimpleNamespace(sleep=sleep, event=gevent.event))
    return slept


def test_claim_waits_for_a_running_agent_whose_keepalives_stopped_then_adopts(monkeypatch):
    etcd = FakeEtcd()
    old = held_by_earlier_agent(etcd, 30, RUNNING)
    slept = sleeping_on(etcd, monkeypatch)
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(KEY, H) is Claim.ADOPT
    assert lease.id == old and "/registry/hosts/h1/web" in etcd.kvs  # no key vanished
    # etcd truncates the remaining TTL: after 14.25 s it says 15 left of 30, a silence of 15 > 14; long
    # before the lease would expire at 30 s
    assert 14 < sum(slept) <= 15


def test_claim_waits_while_a_running_agent_keeps_its_lease_alive(monkeypatch):
    etcd = FakeEtcd()
    old = held_by_earlier_agent(etcd, 30, RUNNING)
    waited = []

    def sleep(seconds):  # the other agent refreshes every 10 s, then stops with SIGINT after a minute
        waited.append(seconds)
        etcd.advance(seconds)
        if etcd.now % 10 == 0:
            etcd.lease_refresh(old)
        if sum(waited) >= 60:
            etcd.put(KEY, Marker(H, old, STOPPED, "x").encode(), old)

    monkeypatch.setattr(agent.daemon.lease, "gevent", types.SimpleNamespace(sleep=sleep, event=gevent.event))
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(KEY, H) is Claim.ADOPT
    assert sum(waited) == pytest.approx(60)


def test_lease_freshness_follows_the_keepalives():
    etcd = FakeEtcd()
    lease = HostLease(etcd, 6, clock=etcd.clock)
    lease.grant()
    etcd.advance(5)
    assert lease.fresh()
    lease.refresh()
    etcd.advance(5)
    assert lease.fresh() and etcd.lease_info(lease.id).remaining == 1
    etcd.fail_next(1)
    with pytest.raises(EtcdUnavailable):
        lease.refresh()
    etcd.advance(0.5)
    assert lease.fresh()
    etcd.advance(0.6)
    assert not lease.fresh()


def test_grant_returns_the_lease_it_replaces_and_revoke_deletes_its_keys():
    etcd = FakeEtcd()
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.grant() == 0
    first = lease.id
    etcd.put("/registry/hosts/h1/web", "c", first)
    assert lease.grant() == first and lease.id != first
    lease.revoke(first)
    assert "/registry/hosts/h1/web" not in etcd.kvs and lease.id in etcd.leases
    lease.revoke()
    assert etcd.leases == {}


def test_heartbeat_reports_a_lost_lease_once():
    etcd = FakeEtcd()
    lease = HostLease(etcd, 30, clock=etcd.clock)
    lease.grant()
    lost = []
    heartbeat = Heartbeat(lease, lost.append)
    etcd.advance(20)
    assert heartbeat.beat() and lost == []
    assert etcd.lease_info(lease.id).remaining == 30
    gone = lease.id
    etcd.expire(gone)
    assert heartbeat.beat() and lost == [gone]
    assert heartbeat.beat() and lost == [gone]  # reported once
    lease.grant()  # the writer's answer: a new lease, whose loss is reported again
    etcd.expire(lease.id)
    assert heartbeat.beat() and lost == [gone, lease.id]


def test_heartbeat_failure_asks_for_a_quick_retry():
    etcd = FakeEtcd()
    lease = HostLease(etcd, 30, clock=etcd.clock)
    lease.grant()
    lost = []
    heartbeat = Heartbeat(lease, lost.append)
    etcd.available = False
    assert heartbeat.beat() is False
    etcd.available = True
    assert heartbeat.beat() is True and lost == []


def test_a_marker_not_adopted_is_overwritten_with_a_warning(caplog):
    etcd = FakeEtcd()
    etcd.put("/registry/agents/h1", '{"state": "running", "agent": "1-a"}')  # TTL 0 agent gone without a stop
    etcd.put("/registry/agents/h2", "not a marker")
    with caplog.at_level("WARNING"):
        assert HostLease(etcd, 0).claim("/registry/agents/h1", "h1") is Claim.GRANT
        assert HostLease(etcd, 30).claim("/registry/agents/h2", "h2") is Claim.GRANT
    assert "did not stop cleanly; taking over" in caplog.text
    assert "/registry/agents/h2 holds no marker of ours; overwriting it" in caplog.text


def test_a_new_lease_of_a_shorter_ttl_wakes_the_heartbeat():
    """Defect: the heartbeat slept out the adopted lease's TTL/3 (4 s of TTL 12) after the writer moved every key
    to a new lease of TTL 3, which expired before its first keepalive. A grant now wakes it."""
    etcd = FakeEtcd()
    lease = HostLease(etcd, 0.3)  # the configured TTL: a keepalive every 0.1 s
    lease.id, lease.granted = etcd.lease_grant(30), 30  # adopted with TTL 30: a keepalive every 10 s
    heartbeat = Heartbeat(lease, lambda lost: None)
    runner = gevent.spawn(heartbeat.run)
    try:
        gevent.sleep(0.05)
        lease.grant()
        deadline = time.monotonic() + 3  # ten seconds would pass before a keepalive without the wake-up
        while etcd.calls["lease_refresh"] == 0 and time.monotonic() < deadline:
            gevent.sleep(0.01)
        assert etcd.calls["lease_refresh"] >= 1
    finally:
        heartbeat.stop()
        runner.join(timeout=2)
    assert runner.dead
