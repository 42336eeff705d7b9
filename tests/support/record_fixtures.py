"""Records real `docker inspect` output of the test matrix into tests/fixtures/ (run: make fixtures).

Both engines by default: Docker (SR_TEST_DOCKER_HOST when given, else a private dockerd, like the tests) into
tests/fixtures/<name>.json, and Podman through its Docker-compatible API (a private `podman system service`)
into tests/fixtures/podman_<name>.json, with the container and network events the agent would read while
they were made in podman_events.json. `--engine docker|podman` records one of them; `--out DIR` writes
elsewhere (to compare a new recording with the one in the tree).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from agent.adapters.docker_engine import EVENT_FILTERS
from tests.support.podman import PodmanService, private_podman
from tests.support.servers import TEST_IMAGE, build_test_image, private_dockerd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TAGGED_IMAGE = "reg.example:5000/team/web:1.2"  # a local tag: nothing is pulled
# The start period keeps it "starting" through failed checks until a first success (then one failure makes it
# unhealthy): without it, checks every 0.3 s made it unhealthy before healthcheck_starting was recorded.
HEALTHCHECK = {"test": ["CMD-SHELL", "test -f /tmp/healthy"], "interval": 300_000_000, "retries": 1,
               "start_period": 600_000_000_000}
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
    # SPEC §8: a port left out by SERVICE_<port>_IGNORE, the second of two networks named, the host's network with
    # exposed ports (Docker discards their bindings), a network with IPv6 (Docker 20.10 always adds IPv4 to it)
    "ports_ignored": {"ports": {"80/tcp": 28182, "443/tcp": 28444, "53/udp": 25455},
                      "labels": {"SERVICE_NAME": "shop", "SERVICE_443_IGNORE": "true"},
                      "environment": {"SERVICE_80_IGNORE": "no"}},
    "two_networks": {"network": "fixture-net", "ports": {"80/tcp": 28183, "9000/tcp": []},
                     "labels": {"SERVICE_NETWORK": "fixture-net2"}},  # connected to fixture-net2 once running
    "host_network_ports": {"network_mode": "host", "expose": [80, (53, "udp")]},
    "ipv6_network": {"network": "fixture-v6", "ports": {"80/tcp": 28185}},
}
# the networks the matrix uses beyond the engine's own; the second one of two_networks is connected after the start
IPV6_SUBNET, IPV6_ONLY_SUBNET = "fd00:5e:10::/64", "fd00:5e:11::/64"  # not fd00::/64: this VM's eth0 has it
NETWORKS = {"fixture-net": {}, "fixture-net2": {},
            "fixture-v6": {"enable_ipv6": True, "ipam": docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=IPV6_SUBNET)])}}
CONNECTED = {"two_networks": "fixture-net2"}
# Podman's matrix (names get the podman_ prefix). No timers run Podman's health checks here: the recorder runs
# them (`podman healthcheck run`), so the interval only has to be long enough never to matter. The checked file
# is toggled from the host through a bind mount, not by an exec: Podman keeps the conmon of each API exec
# session for its exit_command_delay (300 s) after the exec ends, past the end of the private service.
PODMAN_HEALTHCHECK = {"test": ["CMD-SHELL", "test -f /probe/healthy"], "interval": 300_000_000_000, "retries": 1}
PODMAN_MATRIX = {
    "plain": {},
    "published": {"ports": {"80/tcp": 28080, "53/udp": 25353}},  # all interfaces: HostIp ""
    "healthcheck": {"healthcheck": PODMAN_HEALTHCHECK},  # and the probe folder, mounted at /probe
    "exposed": {"ports": {"9000/tcp": []}},  # exposed, not published
    "host_network": {"network_mode": "host"},
    "two_networks": {},  # connected to fixture-net too once running
    "paused": {},
    "host_network_ports": {"network_mode": "host", "expose": [80, (53, "udp")]},
    # Podman makes a network with only an IPv6 subnet IPv6-only when IPv6 is not asked for (asked for: dual stack)
    "ipv6_only": {"network": "fixture-v6only", "ports": {"80/tcp": 28285}},
    "events": {},  # connected, disconnected and removed for podman_events.json
}
HEALTH_TIMEOUT = 30


def record(client: docker.DockerClient, out: Path) -> None:
    build_test_image(client)
    client.images.get(TEST_IMAGE).tag(TAGGED_IMAGE)
    networks = {name: client.networks.create(name, **options) for name, options in NETWORKS.items()}
    made = []
    try:
        for name, options in MATRIX.items():
            image = options.pop("image", TEST_IMAGE)
            made.append(run(client, name, options, image))
            if name in CONNECTED:
                networks[CONNECTED[name]].connect(made[-1])
        health = client.containers.get("healthcheck")
        dump(client, out, "healthcheck_starting", health.id)
        health.exec_run("touch /tmp/healthy")
        wait_health(client, health.id, "healthy")
        dump(client, out, "healthcheck_healthy", health.id)
        health.exec_run("rm /tmp/healthy")
        wait_health(client, health.id, "unhealthy")
        dump(client, out, "healthcheck_unhealthy", health.id)
        for container in made:
            if container.name != "healthcheck":
                dump(client, out, container.name, container.id)
        client.containers.get("no_ports").pause()
        dump(client, out, "paused", client.containers.get("no_ports").id)
    finally:
        for container in made:
            container.remove(force=True)
        for network in networks.values():
            network.remove()


def record_podman(client: docker.DockerClient, service: PodmanService, out: Path) -> None:
    build_test_image(client)
    network = client.networks.create("fixture-net")
    v6only = client.networks.create("fixture-v6only", enable_ipv6=False, ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=IPV6_ONLY_SUBNET)]))
    events = EventRecorder(client)
    made: dict[str, Any] = {}
    probe = service.workdir / "probe"
    probe.mkdir()
    try:
        for name, options in PODMAN_MATRIX.items():
            if name == "healthcheck":
                options = {**options, "volumes": {str(probe): {"bind": "/probe", "mode": "rw"}}}
            made[name] = run(client, name, options)
        health = made["healthcheck"]
        dump(client, out, "podman_healthcheck_starting", health.id)  # created, never checked
        (probe / "healthy").touch()
        podman_health(client, service, health.id, "healthy")
        dump(client, out, "podman_healthcheck_healthy", health.id)
        (probe / "healthy").unlink()
        podman_health(client, service, health.id, "unhealthy")
        dump(client, out, "podman_healthcheck_unhealthy", health.id)
        dump(client, out, "podman_plain", made["plain"].id)
        for name in ("published", "exposed", "host_network", "host_network_ports", "ipv6_only"):
            dump(client, out, f"podman_{name}", made[name].id)
        network.connect(made["two_networks"])
        dump(client, out, "podman_two_networks", made["two_networks"].id)
        made["paused"].pause()
        dump(client, out, "podman_paused", made["paused"].id)
        subject = made["events"]
        network.connect(subject)
        network.disconnect(subject)
        subject.remove(force=True)
        write(out, "podman_events", events.until_removed(subject.id))
    finally:
        events.close()
        for container in made.values():
            if container.id not in events.removed:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
        network.remove()
        v6only.remove()


def run(client: docker.DockerClient, name: str, options: dict[str, Any], image: str = TEST_IMAGE) -> Any:
    """A container of the matrix, running; `expose` (ports exposed, none published: docker-py refuses ports with
    the host's network) through the low-level API."""
    if "expose" not in options:
        return client.containers.run(image, "sleep 600", name=name, detach=True, **options)
    options = dict(options)
    host_config = client.api.create_host_config(network_mode=options.pop("network_mode"))
    created = client.api.create_container(image, "sleep 600", name=name, ports=options.pop("expose"),
                                          host_config=host_config, **options)
    client.api.start(created["Id"])
    return client.containers.get(created["Id"])


class EventRecorder:
    """The engine's event stream as the agent opens it (same filters), read in a thread from now on."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._stream = client.api.events(filters=EVENT_FILTERS, decode=True)
        self._events: list[dict[str, Any]] = []
        self.removed: set[str] = set()
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                with self._changed:
                    self._events.append(event)
                    if event.get("Type") == "container" and event.get("Action") in ("destroy", "remove"):
                        self.removed.add((event.get("Actor") or {}).get("ID") or "")
                    self._changed.notify_all()
        except Exception:  # noqa: BLE001 - closed by close()
            pass

    def until_removed(self, cid: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Every event read until the removal of `cid`."""
        with self._changed:
            if not self._changed.wait_for(lambda: cid in self.removed, timeout):
                raise RuntimeError(f"no remove event of {cid[:12]} within {timeout}s")
            return list(self._events)

    def close(self) -> None:
        self._stream.close()


def wait_health(client: docker.DockerClient, cid: str, status: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while client.api.inspect_container(cid)["State"]["Health"]["Status"] != status:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{cid} never became {status}")
        time.sleep(0.2)


def podman_health(client: docker.DockerClient, service: PodmanService, cid: str, status: str) -> None:
    """Run health checks (no timers here) until the status is reached: a check right after an exec may still
    see the old state."""
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while True:
        service.healthcheck(cid)
        if client.api.inspect_container(cid)["State"]["Health"]["Status"] == status:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{cid} never became {status}")
        time.sleep(0.2)


def dump(client: docker.DockerClient, out: Path, name: str, cid: str) -> None:
    write(out, name, client.api.inspect_container(cid))


def write(out: Path, name: str, data: Any) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def record_docker_engine(out: Path) -> None:
    given = os.environ.get("SR_TEST_DOCKER_HOST")
    if given:
        record(docker.DockerClient(base_url=given, version="auto"), out)
        return
    with private_dockerd() as daemon:
        record(docker.DockerClient(base_url=daemon.url, version="auto"), out)


def record_podman_engine(out: Path) -> None:
    with private_podman() as service:
        client = docker.DockerClient(base_url=service.url, version="auto", timeout=60)
        try:
            record_podman(client, service, out)
        finally:
            client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("both", "docker", "podman"), default="both")
    parser.add_argument("--out", type=Path, default=FIXTURES, help="where to write (default: tests/fixtures)")
    args = parser.parse_args(argv)
    if args.engine in ("both", "docker"):
        record_docker_engine(args.out)
    if args.engine in ("both", "podman"):
        record_podman_engine(args.out)


if __name__ == "__main__":
    main()
