"""The four signals of SPEC §5, delivered by a real kill to a real agent process, and kill -9."""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.expect import docker_picture, etcd_picture
from tests.support.waiting import wait_equal, wait_until

pytestmark = pytest.mark.parametrize("engine", ["docker", "podman"], indirect=True)  # one matrix, two engines

TTL = 4


def start_registered(agents, etcd, docker_client, root, host, **settings):
    """An agent for `host` whose initial sync is complete (foreign keys planted under root excepted)."""
    agent = agents.start(host, root, **settings)
    marker = agent.wait_running(etcd)
    planted = etcd_picture(etcd, root)
    wait_equal(lambda: etcd_picture(etcd, root), {**planted, **docker_picture(docker_client, root, host)},
               what="initial sync")
    return agent, marker


def test_sigterm_removes_only_this_hosts_keys(agents, containers, docker_client, etcd, root):
    """Two agents on one etcd: B under a root of its own (one dockerd here, so they would share container
    ids in one root), plus another host's keys planted beside A's."""
    containers.run(labels={"who": "both"})
    other_root = root + "-b"
    foreign = {f"{root}/hosts/elsewhere/web": "e" * 64, f"{root}/containers/{'e' * 64}/host": "elsewhere"}
    for key, value in foreign.items():
        etcd.put(key, value)
    first, _ = start_registered(agents, etcd, docker_client, root, "host-a")
    second, _ = start_registered(agents, etcd, docker_client, other_root, "host-b")
    kept = etcd.items(other_root + "/")
    assert len(kept) > 5

    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0
    assert etcd.values(root + "/") == foreign
    assert etcd.items(other_root + "/") == kept


def test_sigint_keeps_keys_until_ttl(agents, containers, docker_client, etcd, root):
    containers.run()
    agent, marker = start_registered(agents, etcd, docker_client, root, "int-host", TTL=str(TTL))
    before = etcd.items(root + "/")

    agent.signal(signal.SIGINT)
    assert agent.wait_exit() == 0
    after = etcd.items(root + "/")
    assert set(after) == set(before)
    assert {item.lease for item in after.values()} == {marker["lease"]}
    assert agent.marker(etcd)["state"] == "stopped"

    stopped_at = time.monotonic()
    wait_until(lambda: not etcd.items(root + "/"), timeout=TTL + 5, what="keys to expire with the lease")
    assert time.monotonic() - stopped_at > TTL / 2, "keys vanished long before the TTL"


def test_restart_within_ttl_adopts_the_lease(agents, containers, docker_client, etcd, root):
    containers.run(labels={"adopt": "me"})
    agent, marker = start_registered(agents, etcd, docker_client, root, "adopt-host", TTL=str(TTL))
    before = etcd.items(root + "/")
    agent.signal(signal.SIGINT)
    assert agent.wait_exit() == 0

    successor = agents.start("adopt-host", root, TTL=str(TTL))
    adopted = successor.wait_running(etcd)
    assert adopted["lease"] == marker["lease"]
    time.sleep(TTL + 1)  # past the old TTL: the adopted lease must have been kept alive
    after = etcd.items(root + "/")
    assert set(after) == set(before)
    changed = {key for key in before if after[key].mod_revision != before[key].mod_revision}
    assert changed == {successor.marker_key}, "only the marker may be rewritten on adoption"


def test_sigusr2_wipes_the_root_and_registers_again(agents, containers, docker_client, etcd, root):
    containers.run()
    agent, _ = start_registered(agents, etcd, docker_client, root, "usr2-host")
    etcd.put(f"{root}/hosts/other-host/foreign", "0123")
    etcd.put(f"{root}/foreign/key", "x")
    revision = etcd.revision()

    agent.signal(signal.SIGUSR2)
    wait_until(lambda: etcd.get(f"{root}/foreign/key") is None, what="the wipe")
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "usr2-host"), what="re-register")
    assert etcd.get(f"{root}/hosts/other-host/foreign") is None
    assert etcd.get(agent.marker_key).mod_revision > revision


def test_sighup_removes_stale_and_restores_missing(agents, containers, docker_client, etcd, root):
    box = containers.run()
    agent, _ = start_registered(agents, etcd, docker_client, root, "hup-host")
    stale = f"{root}/hosts/hup-host/ghost"
    missing = f"{root}/containers/{box.id}/image"
    etcd.put(stale, "f" * 64)
    etcd.delete(missing)

    agent.signal(signal.SIGHUP)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "hup-host"), what="SIGHUP")
    assert etcd.get(stale) is None
    assert etcd.get(missing).value == box.attrs["Config"]["Image"]  # Podman: docker.io/srtest/busybox:latest
    assert agent.process.poll() is None


def test_kill_9_keys_expire_after_ttl(agents, containers, docker_client, etcd, root):
    containers.run()
    agent, marker = start_registered(agents, etcd, docker_client, root, "kill-host", TTL=str(TTL))
    agent.process.kill()
    agent.process.wait(5)
    killed_at = time.monotonic()
    assert len(etcd.items(root + "/")) > 5
    wait_until(lambda: not etcd.items(root + "/"), timeout=TTL + 5, what="keys to expire")
    gone_after = time.monotonic() - killed_at
    assert gone_after > TTL / 2, f"keys vanished after {gone_after:.1f}s, TTL is {TTL}s"


def test_ttl_zero_keys_are_permanent_and_sigterm_deletes_them(agents, containers, docker_client, etcd, root):
    containers.run(labels={"ttl": "zero"})
    agent, marker = start_registered(agents, etcd, docker_client, root, "zero-host", TTL="0")
    assert marker["lease"] == 0
    assert {item.lease for item in etcd.items(root + "/").values()} == {0}

    agent.signal(signal.SIGTERM)
    assert agent.wait_exit() == 0
    assert etcd.items(root + "/") == {}


def test_second_agent_for_a_host_waits(agents, containers, docker_client, etcd, root):
    containers.run()
    first, marker = start_registered(agents, etcd, docker_client, root, "busy-host", TTL=str(TTL))
    second = agents.start("busy-host", root, TTL=str(TTL))
    wait_until(lambda: "waiting" in second.log(), what="the second agent to say it waits")
    assert second.marker(etcd)["lease"] == marker["lease"]

    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0
    taken = second.wait_running(etcd)
    assert taken["lease"] != marker["lease"]
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "busy-host"), what="take-over")
