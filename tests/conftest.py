"""Fixtures: a real dockerd (private, or SR_TEST_DOCKER_HOST), a real etcd, agent processes, containers.

Everything a test starts is stopped by pid, and every container it makes carries the label `sr-test`
with this run's id and is removed by that label.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from tests.support.agents import AgentFactory
from tests.support.discover import DiscoverFactory
from tests.support.etcdclient import EtcdClient
from tests.support.servers import (
    Dockerd,
    EtcdMember,
    build_test_image,
    free_port,
    own_bridge,
    private_dockerd,
    start_etcd,
)

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
def docker_client(docker_url: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=docker_url, version="auto", timeout=60)
    build_test_image(client)
    try:
        yield client
    finally:
        remove_labelled(client)
        for network in client.networks.list(filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
            network.remove()
        client.close()


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
def agents(tmp_path: Path, docker_url: str, etcd_server: EtcdMember) -> Iterator[AgentFactory]:
    factory = AgentFactory(tmp_path, docker_url, etcd_server.url)
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
