"""Fleet benchmark, part B: N real agent processes, each with its own host name and its own simulated Docker
(bench/fakedocker.py, 30 containers each), against a 3-member etcd cluster on loopback, TTL 10 s.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

from bench.etcdkit import (
    Cluster,
    Registry,
    bounded,
    chunks,
    host_segment,
    index_of,
    problems,
    verify_counter,
    wait_exact,
    wait_exact_stable,
)
from bench.fakedocker import FakeDocker
from bench.fleet_one import check_alive, say
from bench.harness import agent_command
from bench.window import Window, human_bytes, measure
from tests.support.agents import AgentFactory, AgentProcess
from tests.support.watcher import EventLog

ROOT = "/fleet"
TTL = 10
CONTAINERS = 30
BATCH = 10
SETTLE = 5.0
BATCH_TIMEOUT = 120.0
RECOVERY_TIMEOUT = 240.0

Picture = dict[str, dict[str, str]]  # host -> {container name: id}


@dataclass
class Crash:
    victims: int
    gone_first: float  # kill -> the first victim's lease gone
    gone_last: float  # kill -> every victim's lease (and so its keys) gone
    their_keys: int
    left: int  # victims' keys still there afterwards
    others: int  # other hosts' keys
    touched: int  # other hosts' keys deleted or rewritten meanwhile
    added: int  # keys that appeared meanwhile


@dataclass
class Fleet:
    agents: int
    keys: int
    start: float  # first spawn -> every host exact
    idle: Window
    wipe: float  # SIGUSR2 sent -> every host exact again (every key re-created)
    wipe_hosts: list[float]  # SIGUSR2 sent -> each host's index keys all put again (seen by a watch)
    outage: float  # all members answer /health -> every host exact (and it held for TTL + 2 s)
    rewritten: int  # hosts whose keys were written anew after the outage (their lease was lost)
    crash: Crash


class FleetRig:
    """The cluster, the simulated Docker hosts and the agents; stop() ends every one of them by pid."""

    def __init__(self, workdir: Path, count: int) -> None:
        self.workdir = workdir
        self.count = count
        self.cluster = Cluster(workdir / "cluster")
        self.fakes: list[FakeDocker] = []
        self.factory = AgentFactory(workdir, "", self.cluster.urls[0], agent_command())
        self.agents: list[AgentProcess] = []

    def registry(self) -> Registry:
        return Registry(self.cluster.urls[0])

    def picture(self, agents: list[AgentProcess] | None = None) -> Picture:
        hosts = {agent.host for agent in (self.agents if agents is None else agents)}
        return {fake.engine.host: fake.engine.running_names() for fake in self.fakes if fake.engine.host in hosts}

    def alive(self) -> None:
        for agent in self.agents:
            check_alive(agent)

    def start(self) -> float:
        """Cluster, simulated hosts, then the agents in batches; seconds from the first spawn to all exact."""
        self.cluster.start()
        verify_counter(self.cluster.urls[0])
        for n in range(self.count):  # one by one: stop() must find every one already started
            self.fakes.append(FakeDocker(f"fleet-{n:03d}", self.workdir / f"docker-{n:03d}.sock", CONTAINERS).start())
        started = time.monotonic()
        for batch in chunks(self.fakes, BATCH):
            self._start_batch(list(batch))
        return time.monotonic() - started

    def _start_batch(self, fakes: list[FakeDocker]) -> None:
        for fake in fakes:
            number = len(self.agents)
            self.agents.append(self.factory.start(
                fake.engine.host, ROOT, docker_url=fake.url, ETCD_HOSTS=self.cluster.endpoints(number),
                TTL=str(TTL), HTTP_ADDR="", LOG_LEVEL="info"))
        batch = self.agents[-len(fakes):]
        wait_exact(self.registry(), ROOT, self.picture(batch), BATCH_TIMEOUT,
                   f"agents {batch[0].host}..{batch[-1].host} to register", alive=self.alive)
        say(f"part B: {len(self.agents)} of {self.count} agents registered")

    def stop(self) -> None:
        self.factory.kill_all()
        for fake in self.fakes:
            fake.stop()
        self.cluster.kill()


def part_b(workdir: Path, count: int, seconds: float) -> Fleet:
    rig = FleetRig(workdir, count)
    try:
        start = rig.start()
        keys = rig.registry().count(ROOT + "/")
        time.sleep(SETTLE)
        idle = measure(rig.cluster.urls, {"agents": [a.process.pid for a in rig.agents], "etcd": rig.cluster.pids()},
                       seconds)
        say(f"part B: idle {human_bytes(idle.bytes_per_minute)}/min, {idle.keepalives_per_second:.1f} keepalives/s")
        wipe, wipe_hosts = wipe_recovery(rig)
        outage, rewritten = outage_recovery(rig)
        crash = crash_tenth(rig)
    finally:
        rig.stop()
    return Fleet(count, keys, start, idle, wipe, wipe_hosts, outage, rewritten, crash)


def wipe_recovery(rig: FleetRig) -> tuple[float, list[float]]:
    """SIGUSR2 on one host wipes the root (every host); every agent must restore its own keys. Also, from an
    independent watch on `hosts/`, when each host's index keys were all put again."""
    registry, prefix = rig.registry(), f"{ROOT}/hosts/"
    expected = rig.picture()
    with EventLog(rig.cluster.urls[0], prefix) as watch:
        before = registry.revision()
        sent, wall = time.monotonic(), time.time()
        rig.agents[0].signal(signal.SIGUSR2)
        done = wait_exact(registry, ROOT, expected, RECOVERY_TIMEOUT, "every host to restore itself after SIGUSR2",
                          newer_than=before, alive=rig.alive)
        total = sum(len(names) for names in expected.values())
        bounded(lambda: len(put_after(watch, wall)) >= total, 30, "the watch to see every index key put again")
    hosts: dict[str, float] = {}
    for key, seen in put_after(watch, wall).items():
        host = key[len(prefix):].split("/", 1)[0]
        hosts[host] = max(hosts.get(host, 0.0), seen - wall)
    say(f"part B: exact {done - sent:.2f} s after SIGUSR2")
    return done - sent, sorted(hosts.values())


def put_after(watch: EventLog, since: float) -> dict[str, float]:
    """key -> when the watch last saw it put, for puts seen after `since` (wall clock)."""
    return {key: seen for kind, key, seen in list(watch.events) if kind == "PUT" and seen >= since}


def outage_recovery(rig: FleetRig) -> tuple[float, int]:
    """kill -9 every member, 2 x TTL of darkness, start them again on their data dirs. Also: how many hosts
    wrote their keys anew (a lost lease), told by the index keys' create revisions."""
    hosts = [agent.host for agent in rig.agents]
    before = creations(rig.registry(), hosts)
    rig.cluster.kill()
    time.sleep(2 * TTL)
    healthy = rig.cluster.start()
    done = wait_exact_stable(rig.registry(), ROOT, rig.picture(), RECOVERY_TIMEOUT,
                             "every host after the cluster came back", hold=TTL + 2)
    rig.alive()
    rewritten = sum(1 for host, created in creations(rig.registry(), hosts).items() if created != before[host])
    say(f"part B: exact {done - healthy:.2f} s after the cluster answered again; {rewritten} hosts rewritten")
    return done - healthy, rewritten


def creations(registry: Registry, hosts: list[str]) -> dict[str, dict[str, int]]:
    index = index_of(registry, ROOT, hosts)
    return {host: {name: kv.create_revision for name, kv in index.get(host_segment(host), {}).items()}
            for host in hosts}


def crash_tenth(rig: FleetRig) -> Crash:
    """kill -9 a tenth of the agents: their keys must go with their leases, no other host's key may move."""
    registry = rig.registry()
    victims = rig.agents[::10]
    survivors = [agent for agent in rig.agents if agent not in victims]
    before = registry.items(ROOT + "/")
    leases = {before[agent.marker_key].lease for agent in victims}
    theirs = {key for key, kv in before.items() if kv.lease in leases}
    killed = time.monotonic()
    for agent in victims:
        agent.process.kill()
        agent.process.wait(10)
    rig.agents = survivors
    gone = leases_gone(registry, leases, killed)
    after = registry.items(ROOT + "/")
    others = {key: kv.mod_revision for key, kv in before.items() if key not in theirs}
    touched = [key for key, revision in others.items() if key not in after or after[key].mod_revision != revision]
    broken = problems(registry, ROOT, rig.picture())
    if broken:
        raise RuntimeError(f"the surviving hosts are not exact after the crash: {broken[:3]}")
    say(f"part B: {len(victims)} killed hosts' keys gone after {min(gone):.1f}-{max(gone):.1f} s")
    return Crash(len(victims), min(gone), max(gone), len(theirs), len(theirs & after.keys()), len(others),
                 len(touched), len(after.keys() - before.keys()))


def leases_gone(registry: Registry, leases: set[int], since: float) -> list[float]:
    """Seconds from `since` until each lease was seen gone (etcd deletes a lease's keys with it)."""
    gone: dict[int, float] = {}

    def all_gone() -> bool:
        for lease in leases - gone.keys():
            if registry.lease_gone(lease):
                gone[lease] = time.monotonic() - since
        return len(gone) == len(leases)

    bounded(all_gone, 6 * TTL, "the killed agents' leases to expire", interval=0.05,
            describe=lambda: f"{len(leases) - len(gone)} of {len(leases)} still alive")
    return list(gone.values())


def rows(fleet: Fleet) -> list[tuple[str, str]]:
    idle, n = fleet.idle, fleet.agents
    return [
        (f"start {n} agents in batches of {BATCH}",
         f"{fleet.start:.1f} s from the first spawn until every host is exact ({fleet.keys:,} keys)"),
        ("idle: etcd bytes sent",
         f"{human_bytes(idle.bytes_per_minute)}/min in all, {human_bytes(idle.bytes_per_minute / n)}/min per host"),
        ("idle: keepalives", f"{idle.keepalives_per_second:.1f}/s in all ({idle.renewals_per_second:.1f} renewals/s), "
                             f"{idle.keepalives_per_second / n:.3f}/s per host (TTL/3: {3 / TTL:.3f})"),
        ("idle: CPU", f"agents {idle.cpu['agents']:.1f} % in all ({idle.cpu['agents'] / n:.2f} % each), "
                      f"etcd {idle.cpu['etcd']:.1f} % (3 members)"),
        ("SIGUSR2 on one host (wipes every host)",
         f"every host exact again {fleet.wipe:.2f} s after the signal; each host's index keys all back (watch): "
         f"{spread(fleet.wipe_hosts)}"),
        (f"all 3 members kill -9, down {2 * TTL} s",
         f"every host exact {fleet.outage:.2f} s after all members answer /health (and still {TTL + 2} s later); "
         f"{fleet.rewritten} of {fleet.agents} hosts wrote their keys anew (lease lost)"),
        crash_row(fleet.crash),
    ]


def spread(seconds: list[float]) -> str:
    middle = seconds[len(seconds) // 2] if seconds else 0.0
    return f"first {seconds[0]:.2f} s, median {middle:.2f} s, last {seconds[-1]:.2f} s" if seconds else "none seen"


def crash_row(crash: Crash) -> tuple[str, str]:
    victims = f"{crash.victims} agent{'s' if crash.victims > 1 else ''}"
    return (f"kill -9 of {victims}",
            f"their {crash.their_keys:,} keys gone {crash.gone_first:.1f}-{crash.gone_last:.1f} s later "
            f"(TTL {TTL} s), {crash.left} left; other hosts' keys: {crash.touched} of {crash.others:,} touched, "
            f"{crash.added} added")


def thousand(fleet: Fleet) -> str:
    """Linear extrapolation from the per-host figures."""
    per_host = fleet.idle.bytes_per_minute / fleet.agents
    keepalives = fleet.idle.keepalives_per_second / fleet.agents
    return (f"What one host would cost etcd in a fleet of 1,000 (per-host figures of {fleet.agents} hosts, "
            f"extrapolated linearly): {human_bytes(per_host)}/min and {keepalives:.2f} keepalives/s per host, "
            f"{human_bytes(per_host * 1000)}/min and {keepalives * 1000:.0f} keepalives/s for the fleet; valid only "
            f"while a host's cost does not grow with the fleet (part A measures that).")
