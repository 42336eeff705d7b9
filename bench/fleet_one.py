"""Fleet benchmark, part A: one agent's cost against F other hosts in the registry.

One etcd; F other hosts (30 containers each, ~15 keys per container, each host on a lease of its own) written
by the bench; the agent under test runs 10 containers of a real private dockerd (own bridge, no iptables, so
it leaves any other daemon on the machine alone) or, with `simulated`, of bench/fakedocker.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from bench.etcdkit import Registry, verify_counter, wait_exact
from bench.fakedocker import FakeDocker
from bench.foreign import Churn, ForeignHost, load_hosts
from bench.harness import BENCH_LABEL, agent_command, proc_figures
from bench.window import Window, measure
from tests.support.agents import AgentFactory, AgentProcess
from tests.support.servers import TEST_IMAGE, build_test_image, own_bridge, private_dockerd, start_etcd

ROOT, HOST = "/fleet", "bench-host"
AGENT_CONTAINERS = 10
RESYNC = "10"
TTL = "30"
CHURN_RATE = 20.0
BRIDGE_ADDRESS = "172.31.252.1/24"  # not the tests' second daemon's 172.31.254.1/24
START_TIMEOUT = 300.0
SETTLE = 2.0


@dataclass
class OneAgent:
    foreign: int  # other hosts
    keys: int  # keys in the registry besides the agent's own
    start: float  # spawn -> every own key present
    idle: Window
    churn: Window | None
    churn_rate: float
    churn_baseline: float  # bytes/min etcd sends for the churn itself (no agent running)
    peak_mb: float

    @property
    def churn_bytes_per_minute(self) -> float:
        return self.churn.bytes_per_minute - self.churn_baseline if self.churn else 0.0


def say(message: str) -> None:
    print(f"[fleet {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def agent_docker(workdir: Path, simulated: bool) -> Iterator[tuple[str, dict[str, str]]]:
    """(Docker URL, name -> id of its running containers) for the agent under test."""
    if simulated:
        with FakeDocker(HOST, workdir / "docker-a.sock", AGENT_CONTAINERS) as fake:
            yield fake.url, fake.engine.running_names()
        return
    with own_bridge(BRIDGE_ADDRESS) as bridge, private_dockerd("--bridge", bridge, "--iptables=false") as daemon:
        client = docker.DockerClient(base_url=daemon.url, version="auto", timeout=120)
        try:
            build_test_image(client)
            boxes = [client.containers.run(TEST_IMAGE, "sleep 100000", name=f"fleet-{n}", detach=True,
                                           labels={BENCH_LABEL: "1"}, ports={"80/tcp": None})
                     for n in range(AGENT_CONTAINERS)]
            yield daemon.url, {box.name: box.id for box in boxes}
        finally:
            for box in client.containers.list(all=True, filters={"label": BENCH_LABEL}):
                box.remove(force=True)
            client.close()


def part_a(workdir: Path, sizes: list[int], seconds: float, simulated: bool) -> list[OneAgent]:
    results: list[OneAgent] = []
    with agent_docker(workdir, simulated) as (docker_url, names):
        etcd = start_etcd(workdir, "fleet-a")
        factory = AgentFactory(workdir, docker_url, etcd.url, agent_command())
        try:
            verify_counter(etcd.url)
            hosts: list[ForeignHost] = []
            baseline: float | None = None
            for size in sizes:
                hosts += grow(etcd.url, hosts, size)
                if hosts and baseline is None:
                    baseline = churn_baseline(etcd.url, hosts, seconds / 2)
                results.append(one_agent(factory, etcd.url, hosts, names, seconds, baseline or 0.0))
        finally:
            factory.kill_all()
            etcd.kill()
    return results


def grow(url: str, hosts: list[ForeignHost], size: int) -> list[ForeignHost]:
    if size <= len(hosts):
        return []
    started = time.monotonic()
    added = load_hosts(url, ROOT, len(hosts), size - len(hosts))
    say(f"part A: {size} other hosts in the registry ({len(added)} written in {time.monotonic() - started:.1f} s)")
    return added


def churn_baseline(url: str, hosts: list[ForeignHost], seconds: float) -> float:
    """Bytes/min etcd sends for the churn alone (its own transactions' replies), with no agent running."""
    with Churn(url, ROOT, hosts, CHURN_RATE):
        window = measure([url], {}, seconds)
    say(f"part A: churn alone costs etcd {window.bytes_per_minute:.0f} B/min (subtracted below)")
    return window.bytes_per_minute


def one_agent(factory: AgentFactory, url: str, hosts: list[ForeignHost], names: dict[str, str], seconds: float,
              baseline: float) -> OneAgent:
    registry = Registry(url)
    keys = registry.count(ROOT + "/")
    spawned = time.monotonic()
    agent = factory.start(HOST, ROOT, TTL=TTL, RESYNC=RESYNC, LOG_LEVEL="info")
    try:
        ready = wait_exact(registry, ROOT, {HOST: names}, START_TIMEOUT, f"the agent's keys ({len(hosts)} other hosts)",
                           alive=lambda: check_alive(agent))
        say(f"part A, F={len(hosts)}: the agent's keys all present {ready - spawned:.2f} s after spawn")
        time.sleep(SETTLE)
        pid = agent.process.pid
        idle = measure([url], {"agent": [pid]}, seconds)
        churn, rate = None, 0.0
        if hosts:
            with Churn(url, ROOT, hosts, CHURN_RATE) as churner:
                churn = measure([url], {"agent": [pid]}, seconds)
            rate = churner.achieved
        check_alive(agent)
        peak = proc_figures(pid)[0]
    finally:
        stop(agent)
    return OneAgent(len(hosts), keys, ready - spawned, idle, churn, rate, baseline, peak)


def check_alive(agent: AgentProcess) -> None:
    if agent.process.poll() is not None:
        raise RuntimeError(f"agent {agent.host} exited with {agent.process.returncode}: {agent.log()[-2000:]}")


def stop(agent: AgentProcess) -> None:
    """SIGTERM (the lease is revoked, its keys go at once), SIGKILL if it does not exit within 30 s."""
    if agent.process.poll() is None:
        agent.signal(signal.SIGTERM)
        try:
            agent.process.wait(30)
        except subprocess.TimeoutExpired:
            agent.process.kill()
            agent.process.wait(10)


def rows(results: list[OneAgent]) -> list[tuple[str, ...]]:
    return [row(result) for result in results]


def row(result: OneAgent) -> tuple[str, ...]:
    churn = result.churn
    return (f"{result.foreign} ({result.keys:,} keys)", f"{result.start:.2f} s",
            f"{result.idle.bytes_per_minute / 1e3:,.1f} kB", f"{result.idle.cpu['agent']:.2f} %",
            f"{result.churn_bytes_per_minute / 1e3:,.1f} kB" if churn else "n/a",
            f"{churn.cpu['agent']:.2f} % ({result.churn_rate:.1f}/s)" if churn else "n/a",
            f"{result.peak_mb:.1f} MB")


HEADER = ("other hosts (registry keys)", "start", "idle: etcd sent/min", "idle: agent CPU",
          "churn: etcd sent/min", "churn: agent CPU (changes/s)", "peak RSS")


def verdict(results: list[OneAgent]) -> str:
    """SPEC §6: an agent's cost does not grow with the number of other hosts (bench criterion: the largest F
    within 1.5x + a small allowance of F=0, idle bytes, CPU and start time)."""
    if len(results) < 2:
        return "SPEC §6 (cost does not grow with other hosts): needs two sizes of F"
    first, last = results[0], results[-1]
    flat = (last.idle.bytes_per_minute <= 1.5 * first.idle.bytes_per_minute + 5_000
            and last.idle.cpu["agent"] <= 1.5 * first.idle.cpu["agent"] + 0.5
            and last.start <= 1.5 * first.start + 0.5)
    return (f"SPEC §6 (cost does not grow with other hosts), F={first.foreign} vs F={last.foreign}: "
            f"{'met' if flat else 'MISSED'}")
