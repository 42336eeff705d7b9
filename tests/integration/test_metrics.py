"""/metrics counters move with real events; /readyz follows the first sync and etcd's availability."""

from __future__ import annotations

import re

import requests

from tests.support.agents import AgentFactory
from tests.support.etcdclient import EtcdClient
from tests.support.servers import EtcdMember, free_port
from tests.support.waiting import wait_until


def scrape(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    return {match[1]: float(match[2]) for match in re.finditer(r"^(\S+) (\S+)$", text, re.M)}


def status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0


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
