"""The fleet benchmark: what an agent costs etcd among many hosts, and how a fleet of agents recovers.

    python -m bench.fleet [--quick] [--out docs/benchmarks.md]

A. One real agent (10 containers, RESYNC 10 s) against F other hosts in the registry (30 containers each,
   written by the bench on leases of their own), F = 0, 50, 200, 1000: start time, etcd bytes sent per
   minute and agent CPU idle and under 20 changes/s on other hosts, peak RSS.
B. A fleet of 100 real agents, each with its own simulated Docker (bench/fakedocker.py, 30 containers), on a
   3-member etcd cluster, TTL 10 s: idle traffic and keepalives, recovery after SIGUSR2, after the whole
   cluster was down for 2 x TTL, and after a tenth of the agents died.

--quick: F = 0, 50, 10 agents, shorter windows (about 3 minutes). SR_BENCH_AGENT points at another build of
the agent, SR_TEST_ETCD at another etcd binary. --out inserts the report under "## Fleet (make bench-fleet)".
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import fleet_many, fleet_one
from bench.fakedocker import self_check
from bench.fleet_one import say
from bench.harness import publish
from tests.support.agents import REPO

HEADING = "## Fleet (make bench-fleet)"


@dataclass(frozen=True)
class Plan:
    foreign: list[int]
    agents: int
    window_a: float
    window_b: float


def plan(args: argparse.Namespace) -> Plan:
    foreign = [0, 50] if args.quick else [0, 50, 200, 1000]
    if args.foreign is not None:
        foreign = sorted({int(part) for part in args.foreign.split(",") if part.strip()})
    agents = args.agents or (10 if args.quick else 100)
    # Part B's idle window is one RESYNC period (the default, 60 s) even with --quick: every agent's periodic
    # full comparison falls into it once.
    return Plan(foreign, agents, 10.0 if args.quick else 30.0, 60.0)


def prose(text: str) -> str:
    return textwrap.fill(text, width=115, break_long_words=False, break_on_hyphens=False)


def markdown(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def report_a(results: list[fleet_one.OneAgent], window: float, simulated: bool) -> str:
    docker = "the simulated Docker Engine" if simulated else "a private dockerd (real containers)"
    notes = (f"One agent, {fleet_one.AGENT_CONTAINERS} containers on {docker}, RESYNC {fleet_one.RESYNC} s, TTL "
             f"{fleet_one.TTL} s; other hosts: 30 containers each; windows of {window:.0f} s; churn: "
             f"{fleet_one.CHURN_RATE:.0f} transactions/s on other hosts' containers, etcd's own reply bytes for them "
             f"(measured with no agent) subtracted.")
    return f"{prose(notes)}\n\n{markdown(fleet_one.HEADER, fleet_one.rows(results))}\n\n{fleet_one.verdict(results)}"


def report_b(fleet: fleet_many.Fleet, window: float) -> str:
    notes = (f"{fleet.agents} agents, each with a simulated Docker Engine of {fleet_many.CONTAINERS} containers, "
             f"3-member etcd cluster on loopback, TTL {fleet_many.TTL} s, RESYNC default (60 s); idle window "
             f"{window:.0f} s.")
    table = markdown(("fleet", "measured"), fleet_many.rows(fleet))
    return f"{prose(notes)}\n\n{table}\n\n{prose(fleet_many.thousand(fleet))}"


def agent_under_test() -> str:
    """SR_BENCH_AGENT, else the working tree's commit (and whether agent/ differs from it)."""
    given = os.environ.get("SR_BENCH_AGENT")
    if given:
        return f"Agent: `{given}`"

    def git(*words: str) -> str:
        return subprocess.run(["git", *words], cwd=REPO, capture_output=True, text=True).stdout.strip()

    changed = " with uncommitted changes under agent/" if git("status", "--porcelain", "agent") else ""
    return f"Agent: the working tree at {git('rev-parse', '--short', 'HEAD') or 'unknown'}{changed}"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="F = 0, 50; 10 agents; short windows (~3 min)")
    parser.add_argument("--out", help="insert the report into this Markdown file, under " + repr(HEADING))
    parser.add_argument("--foreign", help="part A: comma list of other-host counts (default 0,50,200,1000)")
    parser.add_argument("--agents", type=int, help="part B: number of agents (default 100)")
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    parser.add_argument("--simulated-docker", action="store_true",
                        help="part A: the agent's containers on the simulated Docker instead of a private dockerd")
    return parser.parse_args()


def section_a(args: argparse.Namespace, chosen: Plan, workdir: Path) -> str:
    say(f"part A: one agent against {chosen.foreign} other hosts")
    results = fleet_one.part_a(workdir, chosen.foreign, chosen.window_a, args.simulated_docker)
    return report_a(results, chosen.window_a, args.simulated_docker)


def section_b(args: argparse.Namespace, chosen: Plan, workdir: Path) -> str:
    say(f"part B: a fleet of {chosen.agents} agents")
    return report_b(fleet_many.part_b(workdir, chosen.agents, chosen.window_b), chosen.window_b)


PARTS = (("a", "One agent among other hosts", section_a), ("b", "A fleet", section_b))


def run(args: argparse.Namespace, workdir: Path) -> tuple[str, bool]:
    """The report's body, and whether every part finished (a part that failed is reported as such)."""
    chosen = plan(args)
    sections, finished = [], True
    for part, title, make in PARTS:
        if args.part in (part, "both"):
            (workdir / part).mkdir()
            body, done = attempt(lambda make=make, part=part: make(args, chosen, workdir / part))
            sections.append(f"#### {title}\n\n{body}")
            finished &= done
    return "\n\n".join(sections), finished


def attempt(part: Callable[[], str]) -> tuple[str, bool]:
    """A part's report, or what stopped it (every process it started is already stopped by then)."""
    try:
        return part(), True
    except Exception as exc:  # noqa: BLE001 - a failed part is a result too; the other part still runs
        traceback.print_exc()
        return f"**Did not finish**: {type(exc).__name__}: {exc}", False


def main() -> None:
    args = arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every `finally` stops what it started
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a hundred simulated Docker hosts keep many sockets
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    self_check()
    workdir = Path(tempfile.mkdtemp(prefix="sr-fleet-"))
    started = time.monotonic()
    body, finished = run(args, workdir)
    if finished:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"a part did not finish; agent and etcd logs are kept in {workdir}")
    quick = " (--quick)" if args.quick else ""
    publish(HEADING, f"{agent_under_test()}.\n\n{body}", args.out, started, quick)
    sys.exit(0 if finished else 1)


if __name__ == "__main__":
    main()
