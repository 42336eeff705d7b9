"""Records real `docker inspect` output of the test matrix into tests/fixtures/ (run: make fixtures).

Uses SR_TEST_DOCKER_HOST when given, else a private dockerd, like the tests.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import docker

from tests.support.servers import TEST_IMAGE, build_test_image, private_dockerd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TAGGED_IMAGE = "reg.example:5000/team/web:1.2"  # a local tag: nothing is pulled
HEALTHCHECK = {"test": ["CMD-SHELL", "test -f /tmp/healthy"], "interval": 300_000_000, "retries": 1}
MATRIX = {
    "published_tcp_udp": {"ports": {"80/tcp": 8080, "53/udp": 5353}},
    "exposed_unpublished": {"ports": {"9000/tcp": []}},
    "no_ports": {},
    "host_network": {"network_mode": "host"},
    "user_network": {"network": "fixture-net"},
    "hostile_labels": {"labels": {"a/b": "slash", "p%c": "per%cent", "ünïcödé": "ça va ✓", "empty": ""}},
    "healthcheck": {"healthcheck": HEALTHCHECK},
    "service_ignored": {"environment": {"SERVICE_IGNORE": "true"}},
    "three_ports": {"ports": {"80/tcp": 8081, "443/tcp": 8443, "53/udp": 5354}, "image": TAGGED_IMAGE,
                    "environment": {"SERVICE_443_NAME": "web-tls"}},
    "service_named": {"ports": {"8080/tcp": 18080}, "labels": {"SERVICE_NAME": "api"},
                      "environment": {"SERVICE_NAME": "env-loses"}},
    "bound_address": {"ports": {"9090/tcp": ("127.0.0.1", 19090), "9091/udp": 19091}},
}


def record(client: docker.DockerClient) -> None:
    build_test_image(client)
    client.images.get(TEST_IMAGE).tag(TAGGED_IMAGE)
    network = client.networks.create("fixture-net")
    made = []
    try:
        for name, options in MATRIX.items():
            image = options.pop("image", TEST_IMAGE)
            made.append(client.containers.run(image, "sleep 600", name=name, detach=True, **options))
        health = client.containers.get("healthcheck")
        dump(client, "healthcheck_starting", health.id)
        health.exec_run("touch /tmp/healthy")
        wait_health(client, health.id, "healthy")
        dump(client, "healthcheck_healthy", health.id)
        health.exec_run("rm /tmp/healthy")
        wait_health(client, health.id, "unhealthy")
        dump(client, "healthcheck_unhealthy", health.id)
        for container in made:
            if container.name != "healthcheck":
                dump(client, container.name, container.id)
        client.containers.get("no_ports").pause()
        dump(client, "paused", client.containers.get("no_ports").id)
    finally:
        for container in made:
            container.remove(force=True)
        network.remove()


def wait_health(client: docker.DockerClient, cid: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while client.api.inspect_container(cid)["State"]["Health"]["Status"] != status:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{cid} never became {status}")
        time.sleep(0.2)


def dump(client: docker.DockerClient, name: str, cid: str) -> None:
    FIXTURES.mkdir(exist_ok=True)
    data = client.api.inspect_container(cid)
    (FIXTURES / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def main() -> None:
    given = os.environ.get("SR_TEST_DOCKER_HOST")
    if given:
        record(docker.DockerClient(base_url=given, version="auto"))
        return
    with private_dockerd() as daemon:
        record(docker.DockerClient(base_url=daemon.url, version="auto"))


if __name__ == "__main__":
    main()
