"""The chaos loop: the seed's steps one after another; at each check every fault is ended, and etcd must be
exact within CONVERGE seconds, or the run stops with the seed, the steps so far and the difference."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.chaos.check import problems
from bench.chaos.schedule import FAULTS, Schedule
from bench.chaos.steps import Chaos
from bench.chaos.world import TRAEFIK, World
from tests.support.waiting import wait_until

CONVERGE = 30.0
COVER_GRACE = 180.0  # seconds a run may go on past its time for a fault kind that has not happened yet


class Divergence(Exception):
    """etcd was not exact at a quiet point in time."""


@dataclass
class Figures:
    seed: int
    operations: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # steps that did not apply, by kind
    checks: int = 0
    traefik_keys: int = 0  # the most traefik keys compared at one quiet point (the layout was exercised)
    longest_converge: float = 0.0
    longest_after: list[str] = field(default_factory=list)  # the steps before the longest wait
    log: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)  # fault kinds that never happened (the grace ran out)


def start_agents(world: World) -> None:
    for host in world.hosts:
        host.start_agent(world.etcd_hosts)
    for host in world.hosts:
        assert host.agent is not None
        host.agent.wait_running(world.etcd(), timeout=60)


def run(world: World, seed: int, seconds: float, say: Callable[[str], None] = print) -> Figures:
    """Steps until `seconds` have passed and every fault kind has happened once (at most COVER_GRACE seconds
    more), then one last check; raises Divergence."""
    figures, chaos = Figures(seed), Chaos(world)
    schedule = Schedule(seed, len(world.hosts))
    start_agents(world)
    started = time.monotonic()
    faulted, since = False, 0

    def over() -> bool:
        passed = time.monotonic() - started
        return passed > seconds and (not schedule.uncovered or passed > seconds + COVER_GRACE)

    for step in schedule:
        if step.kind == "check" or over():
            try:
                took = quiet_point(world, chaos, figures)
            except Divergence as exc:
                raise Divergence("the steps so far:\n" + "\n".join(figures.log)
                                 + f"\nat step {step.number}: {exc}") from None
            if faulted and took > figures.longest_converge:
                figures.longest_converge, figures.longest_after = took, figures.log[since:]
            faulted, since = False, len(figures.log)
            say(f"{step.number:4d} check {figures.checks}: exact after {took:.2f}s")
            if over():
                figures.uncovered = sorted(schedule.uncovered)
                return figures
            continue
        outcome = chaos.do(step)
        figures.log.append(f"{step}: {outcome}")
        if outcome.startswith("skipped"):  # it did not happen: counted apart, and a fault stays to cover
            figures.skipped[step.kind] += 1
            continue
        (figures.faults if step.kind in FAULTS else figures.operations)[step.kind] += 1
        schedule.happened(step.kind)
        faulted = faulted or step.kind in FAULTS
    return figures


def quiet_point(world: World, chaos: Chaos, figures: Figures) -> float:
    """End every fault, then wait for etcd to be exact; the seconds it took."""
    chaos.heal_all()
    began = time.monotonic()
    for host in world.hosts:
        if host.agent is None or host.agent.process.poll() is not None:
            code = host.agent.process.returncode if host.agent else None
            raise Divergence(f"the agent of {host.name} exited ({code}) without being told to:\n"
                             f"{host.agent.log()[-3000:] if host.agent else ''}")
    last: list[str] = []

    def exact() -> bool:
        last[:] = problems(world)
        return not last

    try:
        wait_until(exact, timeout=CONVERGE, interval=0.2, what="etcd exact")
    except AssertionError:
        raise Divergence("\n".join(last)) from None
    figures.checks += 1
    figures.traefik_keys = max(figures.traefik_keys, len(world.etcd().values(TRAEFIK + "/")))
    return time.monotonic() - began

