"""/metrics counters move with real events; /readyz follows the first sync and etcd's availability."""

from __future__ import annotations

from tests.support.agents import AgentFactory
from tests.support.etcdclient import EtcdClient
from tests.support.scrape import scrape, status
from tests.support.servers import EtcdMember, free_port
from tests.support.waiting import wait_until


def test_counters_move_with_real_events(agents, containers, etcd, root):
    port = free_port()
    agent = agents.start("metrics-host", root, HTTP_ADDR=f"127.0.0.1:{port}")
    agent.wait_running(etcd)
    wait_until(lambda: status(f"http://127.0.0.1:{port}/readyz") == 200, what="ready")
    before = scrape(port)
    box = containers.run(labels={"metrics": "yes"})
    registered = 'service_registrator_registrations_total{result="ok"}'
    wait_until(lambda: scrape(port).get(registered, 0) > before.get(registered, 0), what="a registration counted")
    box.remove(force=True)
    removed = 'service_registrator_removals_total{result="ok"}'
    wait_until(lambda: scrape(port).get(removed, 0) > before.get(removed, 0), what="a removal counted")
    after = scrape(port)
    assert after['service_registrator_docker_events_total{action="start"}'] >= 1
    assert after['service_registrator_etcd_requests_total{op="txn",result="ok"}'] > \
        before.get('service_registrator_etcd_requests_total{op="txn",result="ok"}', 0)
    assert after["service_registrator_last_full_sync_timestamp_seconds"] > 0
    assert 'service_registrator_build_info{version="0.1.0"}' in after
    assert "service_registrator_lease_keepalive_seconds_count" in after


def test_readyz_waits_for_the_first_sync_and_fails_while_etcd_is_down(tmp_path, docker_url, containers, root):
    member = EtcdMember("ready", free_port(), free_port(), tmp_path / "etcd-ready")
    factory = AgentFactory(tmp_path, docker_url, member.url)
    port = free_port()
    readyz = f"http://127.0.0.1:{port}/readyz"
    try:
        agent = factory.start("ready-host", root, HTTP_ADDR=f"127.0.0.1:{port}", TTL="3")
        wait_until(lambda: status(f"http://127.0.0.1:{port}/healthz") == 200, what="alive")
        assert status(readyz) == 503
        member.start(f"ready={member.peer_url}")
        member.wait_ready()
        agent.wait_running(EtcdClient(member.url))
        wait_until(lambda: status(readyz) == 200, what="ready after the first sync")
        member.kill()
        wait_until(lambda: status(readyz) == 503, timeout=10, what="not ready while etcd is down")
    finally:
        factory.kill_all()
        member.kill()


def test_a_full_comparison_that_fails_counts_as_an_error(agents, containers, own_etcd, root):
    """With etcd gone, every periodic comparison fails: `registrations_total{result="error"}` says so."""
    containers.run(labels={"metrics": "error"})
    port = free_port()
    agent = agents.start("error-host", root, etcd_url=own_etcd.url, HTTP_ADDR=f"127.0.0.1:{port}", RESYNC="1")
    agent.wait_running(EtcdClient(own_etcd.url))
    wait_until(lambda: status(f"http://127.0.0.1:{port}/readyz") == 200, what="ready")
    errors = 'service_registrator_registrations_total{result="error"}'
    assert scrape(port).get(errors, 0) == 0
    own_etcd.kill()
    wait_until(lambda: scrape(port).get(errors, 0) >= 2, timeout=10, what="failed comparisons counted")
