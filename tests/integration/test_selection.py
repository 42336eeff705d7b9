"""Selection and addresses (SPEC §8) with real agents on both engines, key by key against tests/support/expect.py's
rendering of the SPEC text: EC_REGISTRATOR_EXPLICIT on and off, an ignored port among three, container addresses
on user-defined networks (SERVICE_NETWORK naming the second of two, followed as networks are connected and
disconnected), a host-network container, IPv6. No test dials a container's address: they are only read."""

from __future__ import annotations

import random
import uuid

import docker.types
import pytest

from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.expect import backends_picture, docker_picture, etcd_picture, traefik_picture
from tests.support.waiting import wait_equal, wait_until

pytestmark = pytest.mark.parametrize("engine", ["docker", "podman"], indirect=True)

HOST_IP = "10.10.0.1"  # published, never dialled
ENABLE = {"traefik.enable": "true"}
SKIPPED = "no address on network 'nowhere'"


@pytest.fixture
def networks(containers, docker_client):
    """Networks of this test, removed after its containers."""
    made = []

    def create(**options):
        made.append(docker_client.networks.create(f"sr-{uuid.uuid4().hex[:8]}", labels={TEST_LABEL: RUN_ID},
                                                  **options))
        return made[-1]

    yield create
    containers.remove_all()
    for network in made:
        network.remove()


def layouts(root: str, address: str, explicit: bool = False) -> dict[str, str]:
    """The settings of an agent writing every layout under roots of its own (see `pictures`)."""
    return {"LAYOUTS": "ec,backends,traefik", "BACKENDS_DIR": root + "-b", "TRAEFIK_ROOT": root[1:] + "-t",
            "HOST_IP": HOST_IP, "ADDRESS": address, "EXPLICIT": str(explicit).lower()}


def pictures(etcd, root: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    return etcd_picture(etcd, root), etcd.values(root + "-b/"), etcd.values(root[1:] + "-t/")


def expected(client, root: str, host: str, address: str, explicit: bool = False) -> tuple[dict, dict, dict]:
    return (docker_picture(client, root, host, explicit), backends_picture(client, root + "-b", HOST_IP, address,
                                                                           explicit),
            traefik_picture(client, root[1:] + "-t", HOST_IP, address, explicit))


def wait_pictures(etcd, client, root: str, host: str, address: str, explicit: bool = False, what: str = "") -> tuple:
    want = expected(client, root, host, address, explicit)
    wait_equal(lambda: pictures(etcd, root), want, what=what or f"every layout of {host}")
    return want


def test_explicit_on_and_off_and_an_ignored_port_among_three(agents, containers, docker_client, etcd, root):
    shop = containers.run(ports={"80/tcp": None, "443/tcp": None, "53/udp": None},
                          labels={"SERVICE_NAME": "shop", "SERVICE_443_IGNORE": "true", **ENABLE})
    unnamed = containers.run(ports={"80/tcp": None}, labels=ENABLE)
    api = containers.run(ports={"8080/tcp": None}, environment={"SERVICE_8080_NAME": "api"})
    other = root + "x"
    picky = agents.start("picky", root, **layouts(root, "published", explicit=True))
    every = agents.start("every", other, **layouts(other, "published"))
    picky.wait_running(etcd)
    every.wait_running(etcd)
    ec, backends, traefik = wait_pictures(etcd, docker_client, root, "picky", "published", explicit=True)
    all_ec, all_backends, _ = wait_pictures(etcd, docker_client, other, "every", "published")

    named = {shop.id, api.id}
    assert {key.split("/")[3] for key in ec if "/containers/" in key} == named
    assert {key.split("/")[3] for key in all_ec if "/containers/" in key} >= named | {unnamed.id}
    assert not [key for key in (*backends, *traefik) if unnamed.id[:12] in key]
    assert [key for key in all_backends if unnamed.id[:12] in key]
    # 443 is left out of backends and traefik, ec still lists it
    assert sorted(value for key, value in backends.items() if key.startswith(f"{root}-b/shop/") and
                  key.endswith("/port")) == ["53", "80"]
    assert f"{root}/containers/{shop.id}/network/ports/443-tcp/extPort" in ec
    assert [value for key, value in traefik.items() if shop.id[:12] in key] == [
        f"http://{HOST_IP}:{docker_client.api.port(shop.id, 80)[0]['HostPort']}"]


def test_container_addresses_on_the_network_service_network_names_followed_as_it_is_connected(
        agents, containers, networks, docker_client, etcd, root):
    first, named = sorted([networks(), networks()], key=lambda network: network.name)  # named: the second by name
    box = containers.run(network=first.name, ports={"80/tcp": None, "9000/tcp": []},
                         labels={"SERVICE_NETWORK": named.name, **ENABLE})
    inner = containers.run(network=first.name, ports={"8080/tcp": []}, labels={"SERVICE_NAME": "inner"})
    lost = containers.run(ports={"80/tcp": None}, labels={"SERVICE_NETWORK": "nowhere", **ENABLE})
    agent = agents.start("inside", root, **layouts(root, "container"))
    assert agent.wait_running(etcd)["address"] == "container"  # what `status` shows
    _, backends, traefik = wait_pictures(etcd, docker_client, root, "inside", "container", what="before the connect")
    inner_ip = docker_client.api.inspect_container(inner.id)["NetworkSettings"]["Networks"][first.name]["IPAddress"]
    assert backends == {f"{root}-b/inner/1/{inner.id[:12]}": f"{inner_ip}:8080", f"{root}-b/inner/1/port": "8080"}
    assert not [key for key in traefik if "/servers/" in key]  # box has no address on its network yet, nor lost
    wait_until(lambda: agent.log().count(SKIPPED) == 1, what="one warning naming the container without address")
    assert f"{lost.name} ({lost.id[:12]}): left out of the layouts that publish addresses" in agent.log()

    named.connect(box)
    _, backends, traefik = wait_pictures(etcd, docker_client, root, "inside", "container", what="after the connect")
    box_ip = docker_client.api.inspect_container(box.id)["NetworkSettings"]["Networks"][named.name]["IPAddress"]
    assert {value for key, value in backends.items() if box.id[:12] in key} == {f"{box_ip}:80", f"{box_ip}:9000"}
    assert [value for key, value in traefik.items() if box.id[:12] in key] == [f"http://{box_ip}:80"]

    named.disconnect(box)
    wait_pictures(etcd, docker_client, root, "inside", "container", what="after the disconnect")
    assert not [key for key in etcd.values(root + "-b/") if box.id[:12] in key]
    assert agent.log().count(SKIPPED) == 1


def run_on_host_network(client, containers, labels: dict[str, str]) -> str:
    """A container on the host's network exposing 80/tcp and 53/udp (docker-py's `run` refuses ports there)."""
    created = client.api.create_container(
        "srtest/busybox:latest", "sleep 100000", name=f"sr-{uuid.uuid4().hex[:8]}", ports=[80, (53, "udp")],
        labels={**labels, TEST_LABEL: RUN_ID}, host_config=client.api.create_host_config(network_mode="host"))
    containers.made.append(created["Id"])
    client.api.start(created["Id"])
    return created["Id"]


@pytest.mark.parametrize("address", ["published", "container"])
def test_a_host_network_container_is_reached_at_host_ip_and_its_container_ports(
        address, engine, agents, containers, docker_client, etcd, root):
    cid = run_on_host_network(docker_client, containers, {"SERVICE_NAME": "hostnet", **ENABLE})
    agent = agents.start("hostnet", root, **layouts(root, address))
    agent.wait_running(etcd)
    _, backends, traefik = wait_pictures(etcd, docker_client, root, "hostnet", address)
    if engine.name == "podman":  # Podman 4.3 keeps no exposed port of a host-network container (docs/podman.md)
        assert not docker_client.api.inspect_container(cid)["Config"].get("ExposedPorts")
        assert not [key for key in backends if "/hostnet/" in key]
        return
    assert {key: value for key, value in backends.items() if "/hostnet/" in key} == {
        f"{root}-b/hostnet/1/{cid[:12]}": f"{HOST_IP}:53", f"{root}-b/hostnet/2/{cid[:12]}": f"{HOST_IP}:80",
        f"{root}-b/hostnet/1/port": "53", f"{root}-b/hostnet/2/port": "80"}
    assert [value for key, value in traefik.items() if cid[:12] in key] == [f"http://{HOST_IP}:80"]


def test_an_ipv6_network(engine, agents, containers, networks, docker_client, etcd, root):
    """Podman makes a network IPv6-only when given only an IPv6 subnet without IPv6 asked for: its containers are
    registered as `[address]:port`. Docker 20.10 (this VM's dockerd) adds an IPv4 subnet to every bridge network,
    IPv6-enabled ones too (an IPv6-only network, EnableIPv4=false, needs Docker 28): there the IPv6-enabled network
    gives the container's IPv4 address, as for any dual-stack network."""
    subnet = f"fd00:5e:{random.randrange(0x100, 0xffff):x}::/64"  # not fd00::/64: this VM's eth0 has it
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    network = networks(enable_ipv6=engine.name == "docker", ipam=ipam)
    box = containers.run(network=network.name, ports={"80/tcp": None}, labels=ENABLE)
    agent = agents.start("six", root, **layouts(root, "container"))
    agent.wait_running(etcd)
    _, backends, traefik = wait_pictures(etcd, docker_client, root, "six", "container")
    found = docker_client.api.inspect_container(box.id)["NetworkSettings"]["Networks"][network.name]
    assert found["GlobalIPv6Address"].startswith(subnet.split("::")[0] + ":")
    address = f"[{found['GlobalIPv6Address']}]:80" if engine.name == "podman" else f"{found['IPAddress']}:80"
    assert (engine.name == "podman") is not bool(found["IPAddress"])
    assert [value for key, value in backends.items() if box.id[:12] in key] == [address]
    assert [value for key, value in traefik.items() if box.id[:12] in key] == [f"http://{address}"]
