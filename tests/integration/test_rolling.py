"""Issue 21: no request lost across a rolling replacement. A service of two graceful containers (they serve on
2 s after their stop signal) on two hosts (two dockerds), behind `discover`'s haproxy or a real Traefik (throttle
100 ms), under 8 parallel clients; every container is replaced one by one: the new one started and registered,
then the old one stopped with `docker stop`."""

from __future__ import annotations

import socket
import threading
import uuid
from collections import Counter

import docker
import pytest

from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.servers import free_port
from tests.support.traefik import start_traefik
from tests.support.waiting import wait_until

CLIENTS = 8
GRACEFUL = ("sh -c 'mkdir -p /www && echo {answer} > /www/index.html; httpd -f -p {port} -h /www & server=$!; "
            "trap \"sleep 2; kill $server; exit 0\" TERM; wait'")


def http_get(port: int, host: str = "roll.test", timeout: float = 2.0) -> str:
    """One request to 127.0.0.1:port: the body of a 200, else what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
            client.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            reply = b""
            while chunk := client.recv(4096):
                reply += chunk
    except OSError as exc:
        return f"failed: {type(exc).__name__}"
    head, _, body = reply.decode(errors="replace").partition("\r\n\r\n")
    return body.strip() if " 200 " in head.split("\r\n")[0] else f"status: {head[:40]!r}"


class Clients:
    """CLIENTS threads, each sending requests one after another; every answer counted."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(CLIENTS)]

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.seen[http_get(self.port)] += 1

    def failed(self) -> dict[str, int]:
        return {answer: count for answer, count in self.seen.items() if not answer.startswith("v")}


@pytest.mark.parametrize("consumer", ["discover", "traefik"])
def test_a_rolling_replacement_on_two_hosts_loses_no_request(consumer, agents, containers, docker_client,
                                                             second_dockerd, discovers, etcd, etcd_server, root,
                                                             tmp_path):
    service, port, traefik_root = f"roll{uuid.uuid4().hex[:6]}", free_port(), f"tr{uuid.uuid4().hex[:10]}"
    other = docker.DockerClient(base_url=second_dockerd.url, version="auto")
    labels = {"SERVICE_NAME": service, "traefik.enable": "true", "traefik.http.routers.roll.rule": "Host(`roll.test`)",
              "traefik.http.services.roll.loadbalancer.server.port": str(port)}
    made = []

    def run(client: docker.DockerClient, answer: str):
        box = client.containers.run("srtest/busybox:latest", GRACEFUL.format(answer=answer, port=port),
                                    detach=True, ports={f"{port}/tcp": ("127.0.0.1", None)},
                                    labels={**labels, TEST_LABEL: RUN_ID}, name=f"sr-{answer}-{uuid.uuid4().hex[:6]}")
        made.append(box)
        return box

    settings = {"LAYOUTS": "backends,traefik", "BACKENDS_DIR": root + "-b", "TRAEFIK_ROOT": traefik_root,
                "HOST_IP": "127.0.0.1"}
    old = {"a": run(docker_client, "v1-a"), "b": run(other, "v1-b")}
    for host, url in (("a", None), ("b", second_dockerd.url)):
        agents.start(f"roll-{host}", root, docker_url=url, **settings).wait_running(etcd)
    traefik = start_traefik(tmp_path, etcd_server.url, traefik_root) if consumer == "traefik" else None
    try:
        if traefik is None:
            discovers.start(root + "-b").wait_started()
        entry = traefik.web if traefik else port
        wait_until(lambda: {http_get(entry) for _ in range(8)} == {"v1-a", "v1-b"}, timeout=20,
                   what="both old containers in rotation")
        with Clients(entry) as clients:
            for host, client in (("a", docker_client), ("b", other)):
                new = run(client, f"v2-{host}")
                wait_until(lambda new=new: etcd.get(f"{root}-b/{service}/1/{new.id[:12]}") is not None,
                           what="the new container registered")
                wait_until(lambda host=host: clients.seen[f"v2-{host}"] > 0, timeout=20, what="it in rotation")
                old[host].stop(timeout=10)
            wait_until(lambda: clients.seen["v2-b"] > 10, what="requests after the last replacement")
        count = sum(clients.seen.values())
        failed = clients.failed()
        assert failed == {}, f"{sum(failed.values())} of {count} requests failed: {failed}"
        assert count > 200 and {"v1-a", "v1-b", "v2-a", "v2-b"} <= set(clients.seen)
        print(f"{consumer}: {count} requests across the rolling replacement, none failed: {dict(clients.seen)}")
    finally:
        if traefik:
            traefik.stop()
        for box in made:
            box.remove(force=True)
