"""The shipped image, built from the Dockerfile and run for real: registration, signals through tini,
`docker stop`, HEALTHCHECK."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest

from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.expect import docker_picture, etcd_picture
from tests.support.image import build
from tests.support.servers import free_port
from tests.support.waiting import wait_equal, wait_until


@pytest.fixture(scope="session")
def image(dockerd_client: docker.DockerClient) -> str:
    return build(dockerd_client)


def run_agent(client, image, docker_url, etcd_url, root, host, **settings):
    socket_dir = str(Path(docker_url.removeprefix("unix://")).parent)
    env = {"EC_REGISTRATOR_ETCD_HOSTS": etcd_url.removeprefix("http://"), "EC_REGISTRATOR_HOST": host,
           "EC_REGISTRATOR_ETCD_DIR": root, "EC_REGISTRATOR_DOCKER_SOCKET": "/var/run/docker-dir/docker.sock",
           "EC_REGISTRATOR_HTTP_ADDR": f"127.0.0.1:{free_port()}", "EC_REGISTRATOR_TTL": "10", **settings}
    return client.containers.run(image, detach=True, network_mode="host", environment=env,
                                 volumes={socket_dir: {"bind": "/var/run/docker-dir", "mode": "ro"}},
                                 labels={TEST_LABEL: RUN_ID}, name=f"registrator-{host}")


def test_the_image_registers_obeys_signals_and_reports_healthy(image, docker_client, docker_url, containers,
                                                               etcd_server, etcd, root):
    containers.run(labels={"via": "image"})
    agent = run_agent(docker_client, image, docker_url, etcd_server.url, root, "image-host")
    wait_until(lambda: docker_client.api.inspect_container(agent.id)["State"]["Health"]["Status"] == "healthy",
               timeout=60, what="HEALTHCHECK healthy")
    # the agent's own container is registered too, once healthy
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "image-host"), timeout=30,
               what="registered by the image")
    assert etcd.get(f"{root}/hosts/image-host/{agent.name}") is not None

    etcd.put(f"{root}/hosts/image-host/ghost", "f" * 64)
    agent.kill(signal="SIGHUP")
    wait_until(lambda: etcd.get(f"{root}/hosts/image-host/ghost") is None, what="SIGHUP through tini")
    etcd.put(f"{root}/foreign", "x")
    agent.kill(signal="SIGUSR2")
    wait_until(lambda: etcd.get(f"{root}/foreign") is None, what="SIGUSR2 through tini")
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "image-host"),
               what="back after SIGUSR2")

    agent.kill(signal="SIGTERM")
    assert agent.wait(timeout=20)["StatusCode"] == 0
    assert etcd.items(root + "/") == {}


def test_docker_stop_ends_it_within_seconds(image, docker_client, docker_url, etcd_server, etcd, root):
    agent = run_agent(docker_client, image, docker_url, etcd_server.url, root, "stop-host")
    wait_until(lambda: etcd.get(f"{root}/agents/stop-host") is not None, timeout=30, what="the agent's marker")
    started = time.monotonic()
    agent.stop(timeout=10)
    took = time.monotonic() - started
    assert agent.wait(timeout=5)["StatusCode"] == 0
    assert took < 5, f"docker stop took {took:.1f}s"
    assert etcd.items(root + "/") == {}
