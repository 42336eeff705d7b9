"""Self-healing (SPEC §6): keys this host wants come back when someone else deletes or changes them."""

from __future__ import annotations

import base64
import signal
import time

import docker
import pytest
import requests

from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.expect import docker_picture, etcd_picture
from tests.support.waiting import wait_equal, wait_until

BOTH_ENGINES = pytest.mark.parametrize("engine", ["docker", "podman"], indirect=True)

HOST = "heal-host"


def delete_prefix(url: str, prefix: str) -> None:
    raw = prefix.encode()
    requests.post(f"{url}/v3/kv/deleterange", timeout=5, json={
        "key": base64.b64encode(raw).decode(), "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode(),
    }).raise_for_status()


def registered(agents, etcd, docker_client, root, host=HOST, **settings):
    agent = agents.start(host, root, **settings)
    agent.wait_running(etcd)
    expected = docker_picture(docker_client, root, host)
    wait_equal(lambda: etcd_picture(etcd, root), expected, what="initial sync")
    return agent, expected


@BOTH_ENGINES
def test_foreign_delete_of_the_whole_root_is_undone_within_a_second(agents, containers, docker_client, etcd,
                                                                     etcd_server, root):
    containers.run(labels={"heal": "me"})
    agent, expected = registered(agents, etcd, docker_client, root)
    marker = etcd.get(agent.marker_key).value

    delete_prefix(etcd_server.url, root + "/")
    deleted_at = time.monotonic()
    wait_equal(lambda: etcd_picture(etcd, root), expected, timeout=1.0, what="restoration within 1 s")
    print(f"restored after {1000 * (time.monotonic() - deleted_at):.0f} ms")
    wait_equal(lambda: etcd.get(agent.marker_key).value, marker, timeout=1.0, what="the marker back")


@BOTH_ENGINES
def test_changed_and_deleted_keys_come_back_foreign_keys_do_not(agents, containers, docker_client, etcd, root):
    box = containers.run()
    agent, expected = registered(agents, etcd, docker_client, root)
    image_key, name_key = f"{root}/containers/{box.id}/image", f"{root}/hosts/{HOST}/{box.name}"
    etcd.put(image_key, "tampered")
    etcd.delete(name_key)
    etcd.put(f"{root}/somebody/else", "x")
    wait_equal(lambda: etcd_picture(etcd, root), {**expected, f"{root}/somebody/else": "x"}, what="healing")
    marker = agent.wait_running(etcd)
    assert etcd.get(image_key).lease == marker["lease"]


def test_usr2_on_another_host_is_repaired_by_this_host(agents, containers, docker_client, second_dockerd, etcd,
                                                       root):
    """Two hosts (two dockerds) on one root: SIGUSR2 to B wipes A's keys too, and A restores them."""
    containers.run(labels={"host": "a"})
    other = docker.DockerClient(base_url=second_dockerd.url, version="auto")
    other.containers.run("srtest/busybox:latest", "sleep 100000", detach=True, labels={TEST_LABEL: RUN_ID})
    first, expected_a = registered(agents, etcd, docker_client, root, host="host-a")
    second = agents.start("host-b", root, docker_url=second_dockerd.url)
    second.wait_running(etcd)
    expected = {**expected_a, **docker_picture(other, root, "host-b")}
    wait_equal(lambda: etcd_picture(etcd, root), expected, what="both hosts registered")

    second.signal(signal.SIGUSR2)
    wait_until(lambda: "SIGUSR2: wiped" in second.log(), what="the wipe")
    wait_equal(lambda: etcd_picture(etcd, root), expected, what="both hosts back")
    assert "restored" in first.log()
    assert first.process.poll() is None


def test_two_agents_claiming_the_same_containers_do_not_fight_forever(agents, containers, own_etcd, root):
    """A misconfiguration: two host names over one Docker. Both want the same `containers/I/` keys with other
    `host` values; their full comparisons (every second here) must not rewrite them forever."""
    from tests.support.etcdclient import EtcdClient

    etcd = EtcdClient(own_etcd.url)
    containers.run()
    first = agents.start("twin-a", root, etcd_url=own_etcd.url, RESYNC="1")
    second = agents.start("twin-b", root, etcd_url=own_etcd.url, RESYNC="1")
    first.wait_running(etcd)
    second.wait_running(etcd)
    wait_until(lambda: "keep being changed by someone else" in first.log() + second.log(), timeout=20,
               what="the flap guard to step in")
    revision = etcd.revision()
    time.sleep(2)  # a fight rewrites keys every few milliseconds; two quiet seconds show it stopped
    assert etcd.revision() - revision < 10
