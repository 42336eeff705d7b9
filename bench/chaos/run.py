"""The chaos loop: the seed's steps one after another; at each check every fault is ended, and etcd must be
exact within CONVERGE seconds, or the run stops with the seed, the steps so far and the difference."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.chaos.check import problems
from bench.chaos.schedule import FAULTS, steps
from bench.chaos.steps import Chaos
from bench.chaos.world import World
from tests.support.waiting import wait_until

CONVERGE = 30.0


class Divergence(Exception):
    """etcd was not exact at a quiet point in time."""


@dataclass
class Figures:
    seed: int
    operations: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # steps that did not apply, by kind
    checks: int = 0
    longest_converge: float = 0.0
    longest_after: list[str] = field(default_factory=list)  # the steps before the longest wait
    log: list[str] = field(default_factory=list)


def start_agents(world: World) -> None:
    for host in world.hosts:
        host.start_agent(world.etcd_hosts)
    for host in world.hosts:
        assert host.agent is not None
        host.agent.wait_running(world.etcd(), timeout=60)


def run(world: World, seed: int, seconds: float, say: Callable[[str], None] = print) -> Figures:
    """Steps until `seconds` have passed, then one last check; raises Divergence."""
    figures, chaos = Figures(seed), Chaos(world)
    start_agents(world)
    ends = time.monotonic() + seconds
    faulted, since = False, 0
    for step in steps(seed, len(world.hosts)):
        if step.kind == "check" or time.monotonic() > ends:
            try:
                took = quiet_point(world, chaos, figures)
            except Divergence as exc:
                raise Divergence("the steps so far:\n" + "\n".join(figures.log)
                                 + f"\nat step {step.number}: {exc}") from None
            if faulted and took > figures.longest_converge:
                figures.longest_converge, figures.longest_after = took, figures.log[since:]
            faulted, since = False, len(figures.log)
            say(f"{step.number:4d} check {figures.checks}: exact after {took:.2f}s")
            if time.monotonic() > ends:
                return figures
            continue
        outcome = chaos.do(step)
        figures.log.append(f"{step}: {outcome}")
        if outcome.startswith("skipped"):
            figures.skipped[step.kind] += 1
        (figures.faults if step.kind in FAULTS else figures.operations)[step.kind] += 1
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
    return time.monotonic() - began

