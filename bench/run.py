"""The benchmark suite: event latency, cold sync, cost per change, footprint, 10,000 synthetic containers.

    python -m bench.run [--quick] [--engine docker|podman] [--only latency,cost,cold,synthetic] [--out FILE]

Real dockerd and etcd (private, on loopback), the agent as a real process; SR_BENCH_AGENT points at another
build of the agent, SR_TEST_ETCD at another etcd binary. `--engine podman` runs on a private `podman system
service` (its Docker-compatible API) instead of dockerd; the synthetic part never talks to an engine, so it
runs on Docker only. Prints one summary table; --out also appends it, with the machine, the engine and the
date, to a Markdown file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import DockerTimes, Rig, machine, percentiles, proc_figures, rig, wait_for
from tests.support.watcher import EventLog

ROOT, HOST = "/bench", "bench-host"
INDEX = f"{ROOT}/hosts/{HOST}/"


def event_latency(bench: Rig, count: int) -> list[tuple[str, str, str]]:
    """Docker's start/die `timeNano` -> an independent watcher sees the index key put/deleted."""
    agent = bench.agents.start(HOST, ROOT, TTL="30")
    events = DockerTimes(bench.client)
    wait_for(lambda: bench.count(f"{ROOT}/agents/"), 30, "the agent")
    time.sleep(1)
    starts, dies = [], []
    with EventLog(bench.etcd.url, INDEX) as keys:
        for n in range(count):
            name = f"lat-{n}"
            box = bench.run_container(name)
            put = wait_for(lambda name=name: name in events.start and keys.first("PUT", INDEX + name), 10, name)
            starts.append((put - events.start[name]) * 1000)
            box.remove(force=True)
            gone = wait_for(lambda name=name: name in events.die and keys.first("DELETE", INDEX + name), 10, name)
            dies.append((gone - events.die[name]) * 1000)
    stop(agent)
    delivery = {action: [(events.delivered[action, f"lat-{n}"] - times[f"lat-{n}"]) * 1000 for n in range(count)]
                for action, times in (("start", events.start), ("die", events.die))}
    return [latency_row(f"start -> visible ({count} containers)", starts, 15, 50),
            latency_row(f"die -> gone ({count} containers)", dies, 15, 50),
            delivery_row("start", delivery["start"]), delivery_row("die", delivery["die"])]


def delivery_row(action: str, samples: list[float]) -> tuple[str, str, str]:
    """The engine's share: from `timeNano` to the event reaching the benchmark's own event stream (another
    connection than the agent's, so the same delay, not the same samples)."""
    figures = ", ".join(f"{label} {value:.1f} ms" for label, value in percentiles(samples).items())
    return f"({action} `timeNano` -> on an event stream, same containers)", figures, "the engine's share; no target"


def stop(agent) -> None:
    """SIGTERM: the lease is revoked now, so its keys do not expire in the middle of a later measurement."""
    agent.signal(signal.SIGTERM)
    agent.wait_exit()


def latency_row(name: str, samples: list[float], p50_target: float, p99_target: float) -> tuple[str, str, str]:
    cut = percentiles(samples)
    figures = ", ".join(f"{label} {value:.1f} ms" for label, value in cut.items())
    met = cut["p50"] <= p50_target and cut["p99"] <= p99_target
    return name, figures, f"p50 <= {p50_target} ms, p99 <= {p99_target} ms: {'met' if met else 'MISSED'}"


def cold_sync_and_footprint(bench: Rig, count: int, idle: float) -> list[tuple[str, str, str]]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: bench.run_container(f"cold-{n}", ports={"80/tcp": None}), range(count)))
    root, index = ROOT + "-cold", f"{ROOT}-cold/hosts/{HOST}/"
    started = time.monotonic()
    agent = bench.agents.start(HOST, root, TTL="30", RESYNC="60")
    wait_for(lambda: bench.count(index) >= count, 60, "the cold sync")
    cold = time.monotonic() - started
    time.sleep(2)
    revision, (_, cpu_before) = bench.revision(), proc_figures(agent.process.pid)
    time.sleep(idle)
    peak, cpu_after = proc_figures(agent.process.pid)
    idle_writes = bench.revision() - revision
    idle_cpu = 100 * (cpu_after - cpu_before) / idle
    stop(agent)
    bench.remove_containers()
    return [
        (f"cold sync of {count} containers", f"{cold:.2f} s from process start to every key",
         f"<= 2 s: {'met' if cold <= 2 else 'MISSED'}"),
        (f"idle {idle:.0f} s with {count} containers", f"{idle_writes} revisions; CPU {idle_cpu:.2f} %",
         f"0 revisions, CPU <= 1 %: {'met' if idle_writes == 0 and idle_cpu <= 1 else 'MISSED'}"),
        ("peak RSS", f"{peak:.1f} MB", f"<= 60 MB: {'met' if peak <= 60 else 'MISSED'}"),
    ]


def cost_per_change(bench: Rig, count: int) -> list[tuple[str, str, str]]:
    agent = bench.agents.start(HOST, ROOT + "-cost", TTL="30")
    index = f"{ROOT}-cost/hosts/{HOST}/"
    wait_for(lambda: bench.count(f"{ROOT}-cost/agents/"), 30, "the agent")
    time.sleep(1)
    registrations, removals = [], []
    for n in range(count):
        before = bench.revision()
        box = bench.run_container(f"cost-{n}", ports={"80/tcp": None}, labels={"tier": "web"})
        wait_for(lambda n=n: bench.count(index + f"cost-{n}"), 10, "registration")
        time.sleep(0.3)  # let every event of the start (connect, start) be handled
        middle = bench.revision()
        box.remove(force=True)
        wait_for(lambda n=n: not bench.count(index + f"cost-{n}"), 10, "removal")
        time.sleep(0.3)
        registrations.append(middle - before)
        removals.append(bench.revision() - middle)
    stop(agent)
    one = set(registrations) == {1} and set(removals) == {1}
    return [("etcd revisions per change", f"registration {sorted(set(registrations))}, removal "
             f"{sorted(set(removals))} over {count} containers", f"1 each: {'met' if one else 'MISSED'}")]


def synthetic(bench: Rig, count: int) -> list[tuple[str, str, str]]:
    done = subprocess.run([sys.executable, "-m", "bench.synthetic", bench.etcd.url, str(count)],
                          capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": "."})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = result["seconds"]
    return [(f"{count} synthetic containers ({result['keys'] // count} keys each)",
             f"{seconds:.2f} s, {result['transactions']} transactions",
             f"<= 5 s: {'met' if seconds <= 5 else 'MISSED'}")]


def table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| benchmark | measured | target |", "|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


PARTS = ("latency", "cost", "cold", "synthetic")
NAMES = {"latency": "start -> visible, die -> gone", "cost": "etcd revisions per change",
         "cold": "cold sync, idle, peak RSS", "synthetic": "synthetic containers"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer containers and a shorter idle window")
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker", help="the container engine")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts to run, of {PARTS}")
    parser.add_argument("--out", help="append the table to this Markdown file")
    args = parser.parse_args()
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"--only: unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    latency_count, cold_count, idle, synthetic_count = (20, 50, 10.0, 2000) if args.quick else (60, 200, 60.0, 10_000)
    rows: list[tuple[str, str, str]] = []
    with rig(Path(tempfile.mkdtemp(prefix="sr-bench-")), args.engine) as bench:
        engine = f"engine {args.engine} {bench.engine_version}"
        for part in PARTS:
            if part not in parts:
                rows.append((NAMES[part], "not run", f"left out (--only {args.only})"))
            elif part == "synthetic" and args.engine != "docker":
                rows.append((NAMES[part], "not run", "no engine involved (recorded inspect output): see the "
                             "Docker runs"))
            elif part == "latency":
                rows += event_latency(bench, latency_count)
            elif part == "cost":
                rows += cost_per_change(bench, 10)
            elif part == "cold":
                rows += cold_sync_and_footprint(bench, cold_count, idle)
            else:
                rows += synthetic(bench, synthetic_count)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = f"### {stamp}: {machine()}, {engine}\n\n{table(rows)}\n"
    print(report)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write("\n" + report)


if __name__ == "__main__":
    main()
