"""Start → visible latency: from a container's State.StartedAt to the moment an independent etcd watcher
sees its `hosts/H/<name>` key. Real dockerd (private, or SR_TEST_DOCKER_HOST), real etcd, real agent.

    python -m bench.start_latency [count]
"""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import requests

from tests.support.agents import AgentFactory
from tests.support.servers import TEST_IMAGE, build_test_image, private_dockerd, start_etcd

HOST = "bench-host"
ROOT = "/bench"


def watch_puts(etcd_url: str, prefix: str, seen: dict[str, float], ready: threading.Event) -> None:
    raw = prefix.encode()
    end = raw[:-1] + bytes([raw[-1] + 1])
    request = {"create_request": {"key": base64.b64encode(raw).decode(), "range_end": base64.b64encode(end).decode()}}
    with requests.post(f"{etcd_url}/v3/watch", json=request, stream=True, timeout=(2, 120)) as reply:
        for line in reply.iter_lines():
            now = time.time()
            ready.set()
            for event in json.loads(line).get("result", {}).get("events", []):
                if event.get("type", "PUT") == "PUT":
                    seen.setdefault(base64.b64decode(event["kv"]["key"]).decode(), now)


def started_at(client: docker.DockerClient, cid: str) -> float:
    text = client.api.inspect_container(cid)["State"]["StartedAt"]  # 2026-11-22T04:22:40.489541924Z
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    return moment.timestamp() + float("0." + (fraction or "0"))


def measure(client: docker.DockerClient, docker_url: str, work: Path, count: int) -> list[float]:
    etcd = start_etcd(work)
    agents = AgentFactory(work, docker_url, etcd.url)
    made = []
    try:
        agents.start(HOST, ROOT)
        seen: dict[str, float] = {}
        ready = threading.Event()
        threading.Thread(target=watch_puts, args=(etcd.url, f"{ROOT}/hosts/{HOST}/", seen, ready), daemon=True).start()
        ready.wait(5)
        time.sleep(2)  # let the agent finish its start-up sync
        latencies = []
        for n in range(count):
            container = client.containers.run(TEST_IMAGE, "sleep 600", name=f"bench-{n}", detach=True,
                                              labels={"sr-bench": "1"})
            made.append(container)
            key = f"{ROOT}/hosts/{HOST}/bench-{n}"
            deadline = time.monotonic() + 10
            while key not in seen and time.monotonic() < deadline:
                time.sleep(0.001)
            latencies.append((seen[key] - started_at(client, container.id)) * 1000)
        return latencies
    finally:
        for container in made:
            container.remove(force=True)
        agents.kill_all()
        etcd.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = Path(tempfile.mkdtemp(prefix="sr-bench-"))
    with private_dockerd() as daemon:
        client = docker.DockerClient(base_url=daemon.url, version="auto")
        build_test_image(client)
        latencies = sorted(measure(client, daemon.url, work, count))
    shutil.rmtree(work, ignore_errors=True)
    q = statistics.quantiles(latencies, n=100)
    print(f"start -> visible over {count} containers: p50 {q[49]:.1f} ms, p90 {q[89]:.1f} ms, "
          f"max {latencies[-1]:.1f} ms")


if __name__ == "__main__":
    main()
