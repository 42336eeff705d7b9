"""What every benchmark shares: real servers, the agent under test, watchers, a summary table."""

from __future__ import annotations

import base64
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import requests

from tests.support.agents import AGENT_COMMAND, AgentFactory
from tests.support.podman import private_podman
from tests.support.servers import EtcdMember, build_test_image, etcd_binary, private_dockerd, start_etcd

BENCH_LABEL = "sr-bench"


def agent_command() -> tuple[str, ...]:
    """The agent under test: SR_BENCH_AGENT (a command line) points the benchmarks at any build."""
    given = os.environ.get("SR_BENCH_AGENT")
    return tuple(shlex.split(given)) if given else AGENT_COMMAND


@dataclass
class Rig:
    client: docker.DockerClient
    docker_url: str
    etcd: EtcdMember
    agents: AgentFactory
    workdir: Path
    engine: str = "docker"  # or "podman": its Docker-compatible API

    @property
    def engine_version(self) -> str:
        """The engine's own version ("4.3.1" for Podman, whose compat API reports it as `Version`)."""
        return str(self.client.version().get("Version", "?"))

    def run_container(self, name: str, **options) -> docker.models.containers.Container:
        labels = {BENCH_LABEL: "1", **options.pop("labels", {})}
        return self.client.containers.run("srtest/busybox:latest", "sleep 100000", name=name, detach=True,
                                          labels=labels, **options)

    def remove_containers(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": BENCH_LABEL}):
            container.remove(force=True)

    def revision(self) -> int:
        reply = requests.post(f"{self.etcd.url}/v3/kv/range", json={"key": base64.b64encode(b"\0").decode()},
                              timeout=5)
        return int(reply.json()["header"]["revision"])

    def count(self, prefix: str) -> int:
        raw = prefix.encode()
        reply = requests.post(f"{self.etcd.url}/v3/kv/range", timeout=5, json={
            "key": base64.b64encode(raw).decode(), "count_only": True,
            "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()})
        return int(reply.json().get("count", 0))


@contextmanager
def private_engine(engine: str) -> Iterator[str]:
    """The URL of a private engine: dockerd, or `podman system service` (own storage, vfs, own socket)."""
    with (private_podman() if engine == "podman" else private_dockerd()) as daemon:
        yield daemon.url


@contextmanager
def rig(workdir: Path, engine: str = "docker") -> Iterator[Rig]:
    with private_engine(engine) as url:
        client = docker.DockerClient(base_url=url, version="auto", timeout=120)
        build_test_image(client)
        etcd = start_etcd(workdir)
        agents = AgentFactory(workdir, url, etcd.url, agent_command())
        bench = Rig(client, url, etcd, agents, workdir, engine)
        try:
            yield bench
        finally:
            agents.kill_all()
            bench.remove_containers()
            etcd.kill()


class DockerTimes:
    """Records the `timeNano` of each container's start and die events.

    Filtered by type only: Podman 4.3 reports `die` in its compat stream but matches an `event` filter against
    its own name, `died`, so `event=die` gets no die events from it."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.start: dict[str, float] = {}
        self.die: dict[str, float] = {}
        self.kill: dict[str, float] = {}  # the first signal sent (docker stop: the stop signal)
        self.delivered: dict[tuple[str, str], float] = {}  # (action, name) -> when this stream brought it
        self._events = client.events(decode=True, filters={"type": "container"})
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for event in self._events:
                action = event.get("Action")
                target = {"start": self.start, "die": self.die, "kill": self.kill}.get(action)
                if target is not None:
                    name = event["Actor"]["Attributes"]["name"]
                    target.setdefault(name, event["timeNano"] / 1e9)
                    self.delivered.setdefault((action, name), time.time())
        except (requests.RequestException, docker.errors.DockerException):
            pass  # the daemon stopped at the end of the run


def wait_for(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark gave up waiting for {what}")
        time.sleep(0.002)
    return value


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "max": ordered[-1]}


def proc_figures(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a running process."""
    with open(f"/proc/{pid}/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return peak_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def insert_report(path: Path, heading: str, report: str, intro: str = "") -> None:
    """Put `report` at the end of the section `heading` (made, with `intro`, at the end of the file when
    missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if heading not in text:
        text = text.rstrip("\n") + f"\n\n{heading}\n" + (f"\n{intro}" if intro else "")
    start = text.index(heading) + len(heading)
    following = text.find("\n## ", start)
    end = len(text) if following < 0 else following + 1
    head, tail = text[:end].rstrip("\n"), text[end:]
    path.write_text(f"{head}\n\n{report.rstrip()}\n" + (f"\n{tail}" if tail else ""), encoding="utf-8")


def machine() -> str:
    etcd = subprocess.run([etcd_binary(), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, {etcd}"


def publish(heading: str, body: str, out: str | Path | None, started: float, details: str = "",
            intro: str = "") -> None:
    """A run's report, `### <UTC time>: <machine><details>, <minutes since started> min` and `body`: printed, and
    put under `heading` in `out` when one is named."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = f"### {stamp}: {machine()}{details}, {(time.monotonic() - started) / 60:.1f} min\n\n{body.rstrip()}\n"
    print(report)
    if out:
        insert_report(Path(out), heading, report, intro)
