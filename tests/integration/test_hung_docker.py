"""A hung Docker never holds the agent back (SPEC §6, issue 22): the private dockerd frozen with SIGSTOP (always
thawed with SIGCONT), and meanwhile a full read asked for (SIGHUP), the lease kept through three TTLs, a foreign
wipe of the host index repaired, SIGUSR2 answered, SIGTERM and SIGINT keeping their promise within a second;
/readyz 503 and one warning once Docker has not answered for EC_REGISTRATOR_DOCKER_TIMEOUT, one line when it
answers again, and then the host converges (a container started during the freeze is registered)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import RUN_ID, TEST_LABEL
from tests.integration.test_self_healing import delete_prefix
from tests.support.expect import docker_picture, etcd_picture
from tests.support.servers import Dockerd, free_port
from tests.support.waiting import wait_equal, wait_until

TTL = 3
DOCKER_TIMEOUT = 2
PROMISE = 1.0  # SPEC §6: SIGTERM, SIGINT, SIGUSR2 and self-healing answered within a second, whatever Docker does


@pytest.fixture
def freezable(dockerd: Dockerd | None) -> Dockerd:
    if dockerd is None or dockerd.process is None:
        pytest.skip("SR_TEST_DOCKER_HOST given: this test freezes the daemon, and only a private one")
    return dockerd


@contextlib.contextmanager
def frozen(dockerd: Dockerd) -> Iterator[None]:
    """dockerd stopped (SIGSTOP): it accepts connections and answers nothing. Always thawed."""
    assert dockerd.process is not None
    dockerd.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        dockerd.process.send_signal(signal.SIGCONT)


def readiness(port: int) -> int:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
    except requests.RequestException:
        return 0


def start_registered(agents, containers, docker_client, etcd, root, host):
    containers.run(labels={"hung": "one"})
    containers.run(labels={"hung": "two"}, ports={"80/tcp": ("127.0.0.1", None)})
    port = free_port()
    agent = agents.start(host, root, TTL=str(TTL), DOCKER_TIMEOUT=str(DOCKER_TIMEOUT), RESYNC="0",
                         HTTP_ADDR=f"127.0.0.1:{port}")
    agent.wait_running(etcd)
    expected = docker_picture(docker_client, root, host)
    wait_equal(lambda: etcd_picture(etcd, root), expected, what="initial sync")
    wait_until(lambda: readiness(port) == 200, what="/readyz 200 after the first sync")
    return agent, expected, port


def elapsed_until(probe, timeout: float, what: str) -> float:
    began = time.monotonic()
    wait_until(probe, timeout=timeout, interval=0.02, what=what)
    return time.monotonic() - began


def test_a_frozen_docker_holds_back_neither_the_lease_nor_etcd_nor_signals(agents, containers, docker_client, etcd,
                                                                           etcd_server, freezable, root):
    host = "hung-host"
    agent, expected, port = start_registered(agents, containers, docker_client, etcd, root, host)
    late = containers.client.containers.create("srtest/busybox:latest", "sleep 100000", name=f"late-{root[2:]}",
                                               labels={TEST_LABEL: RUN_ID})
    containers.made.append(late.id)
    starter = threading.Thread(target=late.start, daemon=True)
    with frozen(freezable):
        agent.signal(signal.SIGHUP)  # a full read: it waits on Docker, nothing else does
        starter.start()  # `docker start` during the freeze: done when Docker thaws
        assert elapsed_until(lambda: readiness(port) == 503, DOCKER_TIMEOUT + 3, "/readyz 503") > 0
        began = time.monotonic()
        while time.monotonic() - began < 3 * TTL:  # three TTLs: the lease is kept alive without Docker
            assert etcd_picture(etcd, root) == expected, "a key went while Docker was frozen"
            time.sleep(0.2)
        delete_prefix(etcd_server.url, f"{root}/hosts/{host}/")
        healed = elapsed_until(lambda: etcd_picture(etcd, root) == expected, PROMISE, "the host index repaired")
        agent.signal(signal.SIGUSR2)
        wiped = elapsed_until(lambda: etcd_picture(etcd, root) == expected, PROMISE + 1,
                              "SIGUSR2: wiped and registered again")
        assert agent.process.poll() is None
    print(f"healed in {healed * 1000:.0f} ms, SIGUSR2 done in {wiped * 1000:.0f} ms during the freeze")
    starter.join(30)
    wait_until(lambda: readiness(port) == 200, timeout=DOCKER_TIMEOUT + 15, what="/readyz 200 after the thaw")
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, host), timeout=15,
               what="the host converged, the container started during the freeze registered")
    assert f"{root}/hosts/{host}/{late.name}" in etcd.values(root + "/")
    log = agent.log()
    assert log.count("Docker has not answered for") == 1, log[-3000:]
    assert log.count("Docker answers again after") == 1, log[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_keep_their_promise_within_a_second_while_docker_is_frozen(
        agents, containers, docker_client, etcd, freezable, root, signum):
    """Before: SIGTERM waited 8 s for a writer stuck in a Docker call and exited with every key still in etcd;
    SIGINT wrote no `stopped` marker."""
    host = f"hung-{signum.name.lower()}"
    agent, expected, _ = start_registered(agents, containers, docker_client, etcd, root, host)
    with frozen(freezable):
        agent.signal(signal.SIGHUP)
        time.sleep(0.3)  # the full read is under way, waiting on Docker
        agent.signal(signum)
        if signum == signal.SIGTERM:
            took = elapsed_until(lambda: not etcd.items(root + "/"), PROMISE, "every key of the host gone")
        else:
            took = elapsed_until(lambda: (agent.marker(etcd) or {}).get("state") == "stopped", PROMISE,
                                 "the marker `stopped`")
            assert set(etcd_picture(etcd, root)) == set(expected), "SIGINT keeps the keys"
        assert agent.wait_exit(timeout=5) == 0
    print(f"{signum.name}: done in {took * 1000:.0f} ms with Docker frozen")
