"""The ec layout, key by key, for a matrix of real containers, kept exact through Docker events."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import RUN_ID
from tests.support.expect import docker_picture, etcd_picture
from tests.support.waiting import wait_equal

pytestmark = pytest.mark.parametrize("engine", ["docker", "podman"], indirect=True)  # one matrix, two engines

HOST = "matrix-host"
HOSTILE_LABELS = {"a/b": "slash", "p%c": "per%cent", "ünïcödé": "ça va ✓", "empty": "", "x/y/z": "two/slashes"}
HEALTHCHECK = {"test": ["CMD-SHELL", "test -f /tmp/healthy"], "interval": 300_000_000,
               "timeout": 2_000_000_000, "retries": 1}


def converged(etcd, docker_client, root: str, what: str) -> None:
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, HOST), timeout=10, what=what)


# HostIp of a port published on every interface, as each engine reports it (SPEC §3: extIp as reported)
ANY_HOST_IP = {"docker": "0.0.0.0", "podman": ""}


def test_matrix_is_registered_exactly_and_follows_events(agents, containers, docker_client, engine, etcd, root):
    network = containers.network(f"srnet-{RUN_ID}-{uuid.uuid4().hex[:6]}")
    published = containers.run(ports={"80/tcp": None, "53/udp": None}, labels=HOSTILE_LABELS)
    exposed = containers.run(ports={"9000/tcp": []})
    plain = containers.run()
    host_net = containers.run(network_mode="host")
    user_net = containers.run(network=network.name)
    agent = agents.start(HOST, root)
    agent.wait_running(etcd)
    converged(etcd, docker_client, root, "the initial sync")

    picture = etcd_picture(etcd, root)
    base = f"{root}/containers/{published.id}"
    assert picture[f"{base}/labels/a%2Fb"] == "slash"
    assert picture[f"{base}/labels/p%25c"] == "per%cent"
    assert picture[f"{base}/labels/ünïcödé"] == "ça va ✓"
    assert picture[f"{base}/labels/empty"] == ""
    assert picture[f"{root}/labels/x%2Fy%2Fz/{published.id}"] == "two/slashes"
    assert picture[f"{base}/network/ports/53-udp/proto"] == "udp"
    assert picture[f"{base}/network/ports/80-tcp/extIp"] == ANY_HOST_IP[engine.name]
    assert picture[f"{base}/network/ports/80-tcp/extPort"].isdigit()
    assert picture[f"{root}/containers/{exposed.id}/network/ports/9000-tcp/extPort"] == ""
    assert picture[f"{root}/containers/{host_net.id}/network/ip"] == ""
    assert not any(key.startswith(f"{root}/containers/{plain.id}/network/ports/") for key in picture)
    assert picture[f"{root}/hosts/{HOST}/{user_net.name}"] == user_net.id
    assert picture[f"{root}/{HOST}/{user_net.name}"] == user_net.id
    assert picture[f"{root}/containers/{user_net.id}/network/ip"].count(".") == 3

    late = containers.run(labels={"late": "yes"})
    converged(etcd, docker_client, root, "a container started after the agent")
    assert etcd.get(f"{root}/containers/{late.id}/labels/late").value == "yes"

    network.disconnect(user_net)
    converged(etcd, docker_client, root, "network disconnect")
    assert etcd.get(f"{root}/containers/{user_net.id}/network/ip").value == ""
    network.connect(user_net)
    converged(etcd, docker_client, root, "network connect")

    id_revision = etcd.get(f"{base}/id").mod_revision
    published.rename(f"renamed-{uuid.uuid4().hex[:6]}")
    converged(etcd, docker_client, root, "rename")
    assert etcd.get(f"{base}/id").mod_revision == id_revision, "an unchanged key was rewritten"

    plain.pause()
    converged(etcd, docker_client, root, "pause")
    assert etcd.get(f"{root}/containers/{plain.id}/id") is None
    plain.unpause()
    converged(etcd, docker_client, root, "unpause")

    exposed.stop(timeout=1)
    converged(etcd, docker_client, root, "stop")
    assert etcd.get(f"{root}/containers/{exposed.id}/id") is None
    exposed.start()
    converged(etcd, docker_client, root, "start again")
    assert etcd.get(f"{root}/containers/{exposed.id}/id").value == exposed.id
    exposed.kill()
    converged(etcd, docker_client, root, "kill")
    assert etcd.get(f"{root}/containers/{exposed.id}/id") is None
    late.remove(force=True)
    converged(etcd, docker_client, root, "rm")
    assert etcd.get(f"{root}/hosts/{HOST}/{late.name}") is None


def test_healthcheck_registers_only_while_healthy(agents, containers, docker_client, engine, etcd, root):
    checked = containers.run(healthcheck=HEALTHCHECK)
    plain = containers.run()  # no health check: registered at once, on Podman too (which reports a Health)
    agent = agents.start(HOST, root)
    agent.wait_running(etcd)
    converged(etcd, docker_client, root, "start, health 'starting'")
    id_key = f"{root}/containers/{checked.id}/id"
    assert etcd.get(id_key) is None
    assert etcd.get(f"{root}/containers/{plain.id}/id").value == plain.id

    checked.exec_run("touch /tmp/healthy")
    engine.check_health(checked.id, healthy=True)
    wait_equal(lambda: etcd.get(id_key) is not None, True, what="healthy container registered")
    converged(etcd, docker_client, root, "healthy")

    checked.exec_run("rm /tmp/healthy")
    engine.check_health(checked.id, healthy=False)
    wait_equal(lambda: etcd.get(id_key) is None, True, what="unhealthy container removed")
    converged(etcd, docker_client, root, "unhealthy")


def test_every_key_hangs_on_the_one_host_lease(agents, containers, etcd, root):
    containers.run(ports={"80/tcp": None}, labels={"lease": "one"})
    agent = agents.start(HOST, root)
    marker = agent.wait_running(etcd)
    stored = wait_equal_nonempty(etcd, root)
    remaining, attached = etcd.lease_keys(marker["lease"])
    assert remaining > 0
    assert attached == set(stored)
    assert {item.lease for item in stored.values()} == {marker["lease"]}


def wait_equal_nonempty(etcd, root):
    from tests.support.waiting import wait_until

    return wait_until(lambda: etcd.items(root + "/") if len(etcd.items(root + "/")) > 1 else None,
                      what="keys besides the marker")
