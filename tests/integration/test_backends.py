"""The backends layout (SPEC §4) with real containers, one and two hosts, and both layouts at once."""

from __future__ import annotations

import signal

import docker
import pytest

from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.expect import backends_picture, docker_picture, etcd_picture
from tests.support.waiting import wait_equal, wait_until

BOTH_ENGINES = pytest.mark.parametrize("engine", ["docker", "podman"], indirect=True)

IP_A, IP_B = "10.10.0.1", "10.10.0.2"


@BOTH_ENGINES
def test_one_two_and_three_ports_and_two_containers_of_one_service(agents, containers, docker_client, etcd, root):
    containers.run(ports={"80/tcp": None}, labels={"SERVICE_NAME": "single"})
    containers.run(ports={"80/tcp": None, "53/udp": None}, labels={"SERVICE_NAME": "dns"})
    containers.run(ports={"80/tcp": None, "443/tcp": None, "53/udp": None}, environment={"SERVICE_443_NAME": "tls"})
    twin_one = containers.run(ports={"8080/tcp": None}, labels={"SERVICE_NAME": "api"})
    twin_two = containers.run(ports={"8080/tcp": None}, labels={"SERVICE_NAME": "api"})
    containers.run(ports={"8080/tcp": None}, labels={"SERVICE_NAME": "api", "SERVICE_IGNORE": "true"})
    agent = agents.start("b-host", root + "-ec", LAYOUTS="backends", BACKENDS_DIR=root, HOST_IP=IP_A)
    agent.wait_running(etcd)
    wait_equal(lambda: etcd.values(root + "/"), backends_picture(docker_client, root, IP_A), what="backends keys")
    picture = etcd.values(root + "/")
    assert picture[f"{root}/api/1/{twin_one.id[:12]}"].startswith(f"{IP_A}:")
    assert picture[f"{root}/api/1/{twin_two.id[:12]}"].startswith(f"{IP_A}:")
    assert picture[f"{root}/api/1/port"] == "8080"
    assert picture[f"{root}/dns/1/port"] == "53" and picture[f"{root}/dns/2/port"] == "80"
    assert picture[f"{root}/tls/1/port"] == "443"
    assert picture[f"{root}/busybox/1/port"] == "53" and picture[f"{root}/busybox/2/port"] == "80"

    twin_one.remove(force=True)
    wait_equal(lambda: etcd.values(root + "/"), backends_picture(docker_client, root, IP_A), what="one twin gone")
    assert etcd.get(f"{root}/api/1/port").value == "8080"


def two_hosts(agents, containers, docker_client, second_dockerd, etcd, root, layouts="backends"):
    """Host A on the test daemon and host B on the second one, both running service `shared` on port 80."""
    containers.run(ports={"80/tcp": None}, labels={"SERVICE_NAME": "shared"})
    other = docker.DockerClient(base_url=second_dockerd.url, version="auto")
    other.containers.run("srtest/busybox:latest", "sleep 100000", detach=True, ports={"80/tcp": None},
                         labels={"SERVICE_NAME": "shared", TEST_LABEL: RUN_ID})
    settings = {"LAYOUTS": layouts, "BACKENDS_DIR": root + "-b", "TTL": "4"}
    first = agents.start("host-a", root, HOST_IP=IP_A, **settings)
    second = agents.start("host-b", root, docker_url=second_dockerd.url, HOST_IP=IP_B, **settings)
    first.wait_running(etcd)
    second.wait_running(etcd)
    expected = {**backends_picture(docker_client, root + "-b", IP_A), **backends_picture(other, root + "-b", IP_B)}
    wait_equal(lambda: etcd.values(root + "-b/"), expected, what="both hosts' backends")
    return first, second, other, expected


def test_two_hosts_serve_one_service_and_port_outlives_its_writer(agents, containers, docker_client,
                                                                  second_dockerd, etcd, root):
    first, second, other, _ = two_hosts(agents, containers, docker_client, second_dockerd, etcd, root)
    port_key = f"{root}-b/shared/1/port"
    leases = {first.marker(etcd)["lease"]: (first, second, backends_picture(other, root + "-b", IP_B)),
              second.marker(etcd)["lease"]: (second, first, backends_picture(docker_client, root + "-b", IP_A))}
    writer, survivor, survivor_keys = leases[etcd.get(port_key).lease]

    writer.process.kill()
    writer.process.wait(5)
    wait_until(lambda: etcd.get(writer.marker_key) is None, timeout=10, what="the killed agent's lease to expire")
    wait_equal(lambda: etcd.values(root + "-b/"), survivor_keys, timeout=2, what="the survivor's keys only")
    assert etcd.get(port_key).value == "80"
    assert etcd.get(port_key).lease == survivor.marker(etcd)["lease"]
    # taken over before the writer's lease expired (SPEC §7's rule for shared keys): never deleted, so not restored
    assert "took over 1 shared keys" in survivor.log() and "restored this host's keys" not in survivor.log()


def test_both_layouts_sigterm_and_sigusr2(agents, containers, docker_client, second_dockerd, etcd, root):
    first, second, other, _ = two_hosts(agents, containers, docker_client, second_dockerd, etcd, root,
                                        layouts="ec,backends")
    wait_equal(lambda: etcd_picture(etcd, root), {**docker_picture(docker_client, root, "host-a"),
                                                  **docker_picture(other, root, "host-b")}, what="ec of both")
    etcd.put(f"{root}-b/foreign/1/port", "1")
    second.signal(signal.SIGUSR2)
    wait_until(lambda: etcd.get(f"{root}-b/foreign/1/port") is None, what="the backends root wiped")
    expected_ec = {**docker_picture(docker_client, root, "host-a"), **docker_picture(other, root, "host-b")}
    expected_b = {**backends_picture(docker_client, root + "-b", IP_A), **backends_picture(other, root + "-b", IP_B)}
    wait_equal(lambda: etcd_picture(etcd, root), expected_ec, what="ec back on both hosts")
    wait_equal(lambda: etcd.values(root + "-b/"), expected_b, what="backends back on both hosts")

    second.signal(signal.SIGTERM)
    assert second.wait_exit() == 0
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "host-a"), timeout=2,
               what="only host A in ec")
    wait_equal(lambda: etcd.values(root + "-b/"), backends_picture(docker_client, root + "-b", IP_A), timeout=2,
               what="only host A in backends")
