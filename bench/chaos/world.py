"""The chaos run's real parts: a 3-member etcd cluster on loopback, three hosts on three engines (a private
dockerd, a second one on a bridge of its own, a private Podman), each with its agent and its user network."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.models.containers import Container

from tests.support.agents import AgentFactory, AgentProcess
from tests.support.etcdclient import EtcdClient
from tests.support.podman import PodmanService, private_podman
from tests.support.servers import Dockerd, EtcdMember, build_test_image, free_port, own_bridge, private_dockerd

ROOT, BACKENDS = "/chaos", "/chaos-b"
TRAEFIK = "chaos-t"  # the traefik layout's root: no leading "/" (SPEC §7)
LABEL = "sr-chaos"
TTL = 5


@dataclass
class Host:
    name: str
    url: str
    client: docker.DockerClient
    host_ip: str
    network: str
    factory: AgentFactory
    dockerd: Dockerd | None = None
    podman: PodmanService | None = None
    agent: AgentProcess | None = None
    containers: list[Container] = field(default_factory=list)

    def start_agent(self, hosts: str) -> AgentProcess:
        self.agent = self.factory.start(self.name, ROOT, ETCD_HOSTS=hosts, LAYOUTS="ec,backends,traefik",
                                        BACKENDS_DIR=BACKENDS, TRAEFIK_ROOT=TRAEFIK, HOST_IP=self.host_ip,
                                        TTL=str(TTL), RESYNC="10", LOG_LEVEL="info")
        return self.agent

    def check_health(self, cid: str) -> None:
        """Podman has no timers here: one check now (Docker's run every 0.3 s by themselves)."""
        if self.podman is not None:
            self.podman.healthcheck(cid)


@dataclass
class World:
    members: list[EtcdMember]
    hosts: list[Host]
    workdir: Path
    frozen: set[str] = field(default_factory=set)  # members stopped with SIGSTOP: they take requests, answer none

    @property
    def etcd_hosts(self) -> str:
        return ",".join(member.url.removeprefix("http://") for member in self.members)

    def etcd(self) -> EtcdClient:
        """A client on a member that runs (the chaos stops some)."""
        running = [member for member in self.members
                   if member.process and member.process.poll() is None and member.name not in self.frozen]
        return EtcdClient((running or self.members)[0].url)


def cluster(workdir: Path) -> list[EtcdMember]:
    members = [EtcdMember(f"c{n}", free_port(), free_port(), workdir / f"etcd-c{n}") for n in range(3)]
    initial = ",".join(f"{member.name}={member.peer_url}" for member in members)
    for member in members:
        member.start(initial)
    for member in members:
        member.wait_ready(timeout=30)
    return members


def make_host(name: str, url: str, host_ip: str, workdir: Path, etcd_url: str, **engines: object) -> Host:
    client = docker.DockerClient(base_url=url, version="auto", timeout=120)
    build_test_image(client)
    network = client.networks.create(f"chaos-{uuid.uuid4().hex[:6]}", labels={LABEL: "1"}).name
    return Host(name, url, client, host_ip, network, AgentFactory(workdir, url, etcd_url), **engines)  # type: ignore


@contextlib.contextmanager
def hosts_on(members: list[EtcdMember], workdir: Path, first: Dockerd | None, first_url: str, second_url: str,
             podman: PodmanService) -> Iterator[World]:
    """The three hosts on engines already running (the tests' own), their agents and containers gone after."""
    etcd_url = members[0].url
    hosts = [make_host("chaos-a", first_url, "10.9.0.1", workdir, etcd_url, dockerd=first),
             make_host("chaos-b", second_url, "10.9.0.2", workdir, etcd_url),
             make_host("chaos-c", podman.url, "10.9.0.3", workdir, etcd_url, podman=podman)]
    try:
        yield World(members, hosts, workdir)
    finally:
        for host in hosts:
            host.factory.kill_all()
            remove_labelled(host)


@contextlib.contextmanager
def world(workdir: Path) -> Iterator[World]:
    """Everything started, and everything stopped and removed afterwards (containers by label, processes by pid)."""
    members = cluster(workdir)
    try:
        with private_dockerd() as first, own_bridge("172.31.253.1/24") as bridge, \
                private_dockerd("--bridge", bridge, "--iptables=false") as second, private_podman() as podman, \
                hosts_on(members, workdir, first, first.url, second.url, podman) as parts:
            yield parts
    finally:
        for member in members:
            member.kill()


def remove_labelled(host: Host) -> None:
    """The run's containers and network, by label (on Podman with its CLI, which copes with a container whose
    network state the API can no longer read)."""
    if host.podman is not None:
        host.podman.run("rm", "--force", "--time", "0", "--filter", f"label={LABEL}")
        host.podman.run("network", "rm", "--force", host.network)
        return
    with contextlib.suppress(docker.errors.DockerException):
        for container in host.client.containers.list(all=True, filters={"label": LABEL}):
            container.remove(force=True)
        for network in host.client.networks.list(filters={"label": LABEL}):
            network.remove()
