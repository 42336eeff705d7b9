"""TTL 0 (no lease, permanent keys) with both layouts: what this host wrote is found again without a lease,
so SIGTERM removes all of it and a container removed while no agent ran loses every key (SPEC §3, §4)."""

from __future__ import annotations

import signal

from tests.support.expect import backends_picture, docker_picture, etcd_picture
from tests.support.waiting import wait_equal

IP = "10.20.0.1"


def start(agents, etcd, docker_client, root, host):
    agent = agents.start(host, root, TTL="0", LAYOUTS="ec,backends", BACKENDS_DIR=root + "-b", HOST_IP=IP)
    agent.wait_running(etcd)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, host), what="ec keys")
    wait_equal(lambda: etcd.values(root + "-b/"), backends_picture(docker_client, root + "-b", IP),
               what="backends keys")
    return agent


def test_sigterm_removes_the_keys_of_both_layouts(agents, containers, docker_client, etcd, root):
    containers.run(ports={"80/tcp": None, "53/udp": None}, labels={"SERVICE_NAME": "zero"})
    agent = start(agents, etcd, docker_client, root, "zero-both")
    assert {item.lease for item in etcd.items(root + "-b/").values()} == {0}

    agent.signal(signal.SIGTERM)
    assert agent.wait_exit() == 0
    assert etcd.items(root + "/") == {}
    assert etcd.items(root + "-b/") == {}


def test_a_container_removed_while_no_agent_ran_loses_its_backends_keys(agents, containers, docker_client, etcd,
                                                                        root):
    containers.run(ports={"80/tcp": None}, labels={"SERVICE_NAME": "stays"})
    leaving = containers.run(ports={"8080/tcp": None, "443/tcp": None}, labels={"SERVICE_NAME": "leaves"})
    agent = start(agents, etcd, docker_client, root, "zero-gap")
    agent.signal(signal.SIGINT)
    assert agent.wait_exit() == 0

    leaving.remove(force=True)
    start(agents, etcd, docker_client, root, "zero-gap")
    assert not [key for key in etcd.values(root + "-b/") if "/leaves/" in key]
    assert not [key for key in etcd.values(root + "/") if leaving.id in key]
