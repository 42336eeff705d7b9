"""The HTTP endpoint of SPEC §2: /healthz alive, /readyz after the first sync, /metrics figures."""

from __future__ import annotations

import requests

from tests.support.servers import free_port
from tests.support.waiting import wait_until


def test_health_ready_and_metrics(agents, containers, etcd, root):
    containers.run()
    port = free_port()
    agent = agents.start("http-host", root, HTTP_ADDR=f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _status(f"{base}/healthz") == 200, what="/healthz")
    agent.wait_running(etcd)
    wait_until(lambda: _status(f"{base}/readyz") == 200, what="/readyz after the first sync")
    metrics = requests.get(f"{base}/metrics", timeout=2).text
    assert "service_registrator_ready 1" in metrics
    registered = [line for line in metrics.splitlines() if line.startswith("service_registrator_registered_containers")]
    assert registered and float(registered[0].split()[1]) >= 1
    assert _status(f"{base}/nothing-here") == 404


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0
