"""Fixtures: a real dockerd (private, or SR_TEST_DOCKER_HOST), a real Podman service (private) for the modules
that run on both engines, a real etcd, agent processes, containers.

Everything a test starts is stopped by pid, and every container it makes carries the label `sr-test`
with this run's id and is removed by that label.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from tests.support.agents import AgentFactory
from tests.support.discover import DiscoverFactory
from tests.support.etcdclient import EtcdClient
from tests.support.podman import PodmanService, private_podman
from tests.support.servers import (
    Dockerd,
    EtcdMember,
    build_test_image,
    free_port,
    own_bridge,
    private_dockerd,
    start_etcd,
)
from tests.support.waiting import wait_until

RUN_ID = uuid.uuid4().hex[:8]
TEST_LABEL = "sr-test"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd | None]:
    """The private daemon of this run; None when SR_TEST_DOCKER_HOST names one to reuse."""
    if os.environ.get("SR_TEST_DOCKER_HOST"):
        yield None
        return
    with private_dockerd() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def docker_url(dockerd: Dockerd | None) -> str:
    return dockerd.url if dockerd else os.environ["SR_TEST_DOCKER_HOST"]


@pytest.fixture(scope="session")
def second_dockerd() -> Iterator[Dockerd]:
    """A second private daemon, standing for a second host, on a bridge of its own (not docker0)."""
    with own_bridge() as bridge, private_dockerd("--bridge", bridge, "--iptables=false") as daemon:
        client = docker.DockerClient(base_url=daemon.url, version="auto", timeout=60)
        build_test_image(client)
        try:
            yield daemon
        finally:
            remove_labelled(client)
            client.close()




@pytest.fixture(scope="session")
def dockerd_client(docker_url: str) -> Iterator[docker.DockerClient]:
    yield from engine_client(docker_url)


def engine_client(url: str) -> Iterator[docker.DockerClient]:
    """A client of the engine at `url` with the test image; on teardown, this run's containers and networks go."""
    client = docker.DockerClient(base_url=url, version="auto", timeout=60)
    build_test_image(client)
    try:
        yield client
    finally:
        remove_labelled(client)
        for network in client.networks.list(filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
            network.remove()
        client.close()


@pytest.fixture(scope="session")
def podman() -> Iterator[PodmanService]:
    with private_podman() as service:
        yield service


@pytest.fixture(scope="session")
def podman_client(podman: PodmanService) -> Iterator[docker.DockerClient]:
    yield from engine_client(podman.url)


@dataclass(frozen=True)
class Engine:
    """The container engine a test runs on: the private dockerd, or (in the matrix modules, which parametrize
    `engine` with "docker" and "podman") the private Podman service."""

    name: str
    url: str
    client: docker.DockerClient
    podman: PodmanService | None = None

    def check_health(self, cid: str, healthy: bool) -> None:
        """Podman has no timers here to run health checks: run them, as a timer would, until one gives the result
        the test set up (a check right after an exec may still see the old state). Docker runs them itself."""
        if self.podman is not None:
            wanted = 0 if healthy else 1
            wait_until(lambda: self.podman.healthcheck(cid) == wanted, what=f"health check of {cid[:12]}")


@pytest.fixture
def engine(request: pytest.FixtureRequest, docker_url: str, dockerd_client: docker.DockerClient) -> Engine:
    if getattr(request, "param", "docker") == "podman":
        service = request.getfixturevalue("podman")
        return Engine("podman", service.url, request.getfixturevalue("podman_client"), service)
    return Engine("docker", docker_url, dockerd_client)


@pytest.fixture
def docker_client(engine: Engine) -> docker.DockerClient:
    """The client of the test's engine (Docker unless the module parametrizes `engine`)."""
    return engine.client


def remove_labelled(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
        container.remove(force=True)


@pytest.fixture(scope="session")
def etcd_server(workdir: Path) -> Iterator[EtcdMember]:
    member = start_etcd(workdir)
    try:
        yield member
    finally:
        member.stop()


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[EtcdMember]:
    """An etcd of the test's own, for tests that kill or restart it."""
    member = start_etcd(tmp_path)
    try:
        yield member
    finally:
        member.kill()


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[list[EtcdMember]]:
    """Three etcd members on loopback."""
    members = [EtcdMember(f"m{n}", free_port(), free_port(), tmp_path / f"etcd-m{n}") for n in range(3)]
    cluster = ",".join(f"{member.name}={member.peer_url}" for member in members)
    try:
        for member in members:
            member.start(cluster)
        for member in members:
            member.wait_ready(timeout=30)
        yield members
    finally:
        for member in members:
            member.kill()


@pytest.fixture
def etcd(etcd_server: EtcdMember) -> EtcdClient:
    return EtcdClient(etcd_server.url)


@pytest.fixture
def root() -> str:
    """A root of its own for each test, so tests sharing the etcd server never see each other's keys."""
    return f"/t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def agents(tmp_path: Path, engine: Engine, etcd_server: EtcdMember) -> Iterator[AgentFactory]:
    factory = AgentFactory(tmp_path, engine.url, etcd_server.url)
    try:
        yield factory
    finally:
        factory.kill_all()


@pytest.fixture
def discovers(tmp_path: Path, etcd_server: EtcdMember) -> Iterator[DiscoverFactory]:
    factory = DiscoverFactory(tmp_path, etcd_server.url)
    try:
        yield factory
    finally:
        factory.kill_all()


@pytest.fixture
def containers(docker_client: docker.DockerClient) -> Iterator[ContainerMaker]:
    maker = ContainerMaker(docker_client)
    try:
        yield maker
    finally:
        maker.remove_all()


class ContainerMaker:
    """Runs test containers, each labelled with this run's id, and removes them by that label."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.made: list[str] = []

    def run(self, name: str | None = None, command: str = "sleep 100000", **options) -> Container:
        labels = {**options.pop("labels", {}), TEST_LABEL: RUN_ID}
        container = self.client.containers.run(
            "srtest/busybox:latest", command, name=name or f"sr-{uuid.uuid4().hex[:8]}", labels=labels,
            detach=True, **options)
        self.made.append(container.id)
        return container

    def network(self, name: str) -> docker.models.networks.Network:
        return self.client.networks.create(name, labels={TEST_LABEL: RUN_ID})

    def remove_all(self) -> None:
        for cid in self.made:
            try:
                self.client.containers.get(cid).remove(force=True)
            except docker.errors.NotFound:
                pass
