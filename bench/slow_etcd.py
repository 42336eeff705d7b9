"""The slow-etcd benchmark (issue 22): the agent talks to a real etcd through a loopback proxy that holds every
chunk a fixed delay each way (tests/support/latency.py), at 0, 50 and 200 ms each way.

    python -m bench.slow_etcd [--quick] [--delays 0,50,200] [--out docs/benchmarks.md]

A private dockerd and a private etcd on loopback; the etcd advertises the proxy's URL as its client URL, so the
agent (which lists the cluster's members) never fails over to the etcd's own port. Everything measured is read
from etcd directly, without the delay. For each delay, in a root of its own, with TTL 3 (the smallest TTL whose
keepalive timeout, max(0.5, min(3.0, TTL / 6)) = 0.5 s, is above a 400 ms round trip):

1. cold sync, 3 times (a root each): N containers (default 100, --quick 30) running; from spawning the agent
   process to every container's index key `hosts/H/<name>` present in etcd (counted on etcd every 10 ms);
   Python start-up included, and also shown apart (spawn -> the agent's first request through the proxy).
2. start -> visible: M containers (default 15, --quick 5) started one by one while the last agent runs; from
   Docker's `start` event (`timeNano`) to an independent watch on etcd seeing the index key put; each is
   removed before the next. The kv/txn requests through the proxy and the etcd revisions per start are counted.
3. keepalives over the whole phase: the agent's `service_registrator_lease_keepalive_seconds` histogram and
   `service_registrator_lease_keepalive_failures_total` (/metrics), and the lease's remaining TTL read on etcd
   every 100 ms (its lowest value, and whether it ever lapsed).
4. the agent's ERROR and WARNING lines over the phase (before its SIGTERM).

Prints one table; --out inserts it under "## Slow etcd (make bench-slow-etcd)".
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests

from bench.harness import BENCH_LABEL, DockerTimes, agent_command, percentiles, private_engine, publish
from tests.support.agents import AgentFactory, AgentProcess
from tests.support.background import Background
from tests.support.etcdclient import EtcdClient
from tests.support.latency import LatencyProxy, etcd_behind_proxy
from tests.support.scrape import scrape
from tests.support.servers import build_test_image, free_port
from tests.support.watcher import EventLog

HEADING = "## Slow etcd (make bench-slow-etcd)"
HOST = "slow-bench-host"
TTL = 3
COLD_RUNS = 3
KEEPALIVE = "service_registrator_lease_keepalive_seconds"
FAILURES = "service_registrator_lease_keepalive_failures_total"
_LEVEL = re.compile(r"^\S+ \S+ (ERROR|WARNING) (\S+): (.*)$")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Phase:
    """What one delay measured."""

    delay: float
    cold: list[float] = field(default_factory=list)  # seconds, agent spawn -> every index key, per run
    first: list[float] = field(default_factory=list)  # seconds, agent spawn -> its first request to etcd, per run
    starts: list[float] = field(default_factory=list)  # seconds, start event -> index key seen
    txns: list[int] = field(default_factory=list)  # kv/txn requests through the proxy, per start
    revisions: list[int] = field(default_factory=list)  # etcd revisions, per start
    cold_requests: Counter[str] = field(default_factory=Counter)
    cold_timeline: list[tuple[float, str]] = field(default_factory=list)  # (seconds after the spawn, request)
    keepalives: dict[str, float] = field(default_factory=dict)  # the histogram: count, sum, buckets
    failures: float = 0.0
    lowest_ttl: int = TTL
    lapsed: bool = False
    lines: Counter[str] = field(default_factory=Counter)  # "LEVEL logger: message" (numbers blurred)


class LeaseSampler(Background):
    """The lease's remaining TTL on etcd every 100 ms, on a thread of its own."""

    def __init__(self, etcd: EtcdClient, lease: int) -> None:
        super().__init__("lease sampler")
        self.etcd, self.lease = etcd, lease
        self.lowest, self.lapsed = TTL, False

    def loop(self) -> None:
        while not self.pause(0.1):
            try:
                remaining, _ = self.etcd.lease_keys(self.lease)
            except requests.RequestException:
                continue
            self.lowest = min(self.lowest, remaining)
            self.lapsed |= remaining <= 0


def count(etcd_url: str, prefix: str) -> int:
    raw = prefix.encode()
    reply = requests.post(f"{etcd_url}/v3/kv/range", timeout=5, json={
        "key": base64.b64encode(raw).decode(), "count_only": True,
        "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()})
    return int(reply.json().get("count", 0))


def poll(probe, timeout: float, what: str, interval: float = 0.01) -> float:
    """The time.time() at which `probe()` was first true, polled every `interval`."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark gave up after {timeout:g}s waiting for {what}")
        time.sleep(interval)
    return time.time()


def run_container(client: docker.DockerClient, name: str) -> docker.models.containers.Container:
    return client.containers.run("srtest/busybox:latest", "sleep 100000", name=name, detach=True,
                                 labels={BENCH_LABEL: "1"})


def measure(client: docker.DockerClient, agents: AgentFactory, etcd: EtcdClient, proxy: LatencyProxy, delay: float,
            cold_count: int, start_count: int, events: DockerTimes) -> Phase:
    """COLD_RUNS cold syncs, each in a root of its own; the last agent stays for the starts and the quiet stretch."""
    phase = Phase(delay)
    proxy.delay = delay
    for run in range(COLD_RUNS):
        agent, port, index = cold_sync(phase, agents, etcd, proxy, f"/slow-{int(delay * 1000)}-{run}", cold_count)
        if run < COLD_RUNS - 1:
            finish(phase, agent, port)
    say(f"{delay * 1000:.0f} ms: cold syncs of {cold_count} in " + ", ".join(f"{s:.2f}" for s in phase.cold) + " s")
    lease = agent.wait_running(etcd)["lease"]
    with LeaseSampler(EtcdClient(etcd.url), lease) as sampler, EventLog(etcd.url, index) as keys:
        time.sleep(1)
        for n in range(start_count):
            name = f"slow-{int(delay * 1000)}-{n}"
            revision, txns = etcd.revision(), proxy.request_count("POST /v3/kv/txn")
            box = run_container(client, name)
            seen = poll(lambda name=name: name in events.start and keys.first("PUT", index + name), 15, name,
                        interval=0.002)
            phase.starts.append(keys.first("PUT", index + name) - events.start[name])
            time.sleep(max(0.0, max(0.3, 3 * 2 * delay) - (time.time() - seen)))  # any later write of this start
            phase.revisions.append(etcd.revision() - revision)
            phase.txns.append(proxy.request_count("POST /v3/kv/txn") - txns)
            box.remove(force=True)
            poll(lambda name=name: keys.first("DELETE", index + name), 15, f"{name} gone")
        time.sleep(2 * TTL)  # a quiet stretch: keepalives only
    phase.lowest_ttl, phase.lapsed = sampler.lowest, sampler.lapsed
    finish(phase, agent, port)
    return phase


def cold_sync(phase: Phase, agents: AgentFactory, etcd: EtcdClient, proxy: LatencyProxy, root: str,
              cold_count: int) -> tuple[AgentProcess, int, str]:
    """An agent spawned for `root`, timed until every container's index key is present on etcd."""
    index = f"{root}/hosts/{HOST}/"
    port = free_port()
    requests_before = Counter(proxy.requests)
    spawned, spawned_monotonic = time.time(), time.monotonic()
    agent = agents.start(HOST, root, etcd_url=proxy.url, TTL=str(TTL), RESYNC="60", HTTP_ADDR=f"127.0.0.1:{port}",
                         LOG_LEVEL="info")
    seconds = poll(lambda: count(etcd.url, index) >= cold_count, 120, "the cold sync") - spawned
    phase.cold.append(seconds)
    phase.cold_requests = Counter(proxy.requests) - requests_before
    phase.cold_timeline = [(at - spawned_monotonic, line.split(" /v3/")[1]) for at, line in list(proxy.timeline)
                           if spawned_monotonic <= at <= spawned_monotonic + seconds]
    phase.first.append(phase.cold_timeline[0][0] if phase.cold_timeline else float("nan"))
    return agent, port, index


def finish(phase: Phase, agent: AgentProcess, port: int) -> None:
    """The agent's keepalive figures and log lines added to the phase's, then SIGTERM."""
    figures = scrape(port)
    for key, value in figures.items():
        if key.startswith(KEEPALIVE):
            phase.keepalives[key] = phase.keepalives.get(key, 0.0) + value
    phase.failures += figures.get(FAILURES, 0.0)
    phase.lines += log_lines(agent)
    stop(agent)


def log_lines(agent: AgentProcess) -> Counter[str]:
    """The ERROR and WARNING lines of the agent's log so far, hex ids and numbers blurred, counted."""
    found: Counter[str] = Counter()
    for line in agent.log().splitlines():
        match = _LEVEL.match(line)
        if match:
            message = re.sub(r"\b[0-9a-f]{12,}\b", "<id>", match[3])
            found[f"{match[1]} {match[2]}: {re.sub(r'[0-9]+', 'N', message)[:160]}"] += 1
    return found


def stop(agent: AgentProcess) -> None:
    agent.signal(signal.SIGTERM)
    agent.wait_exit(30)


# -- the report ------------------------------------------------------------------------------------
def keepalive_figures(histogram: dict[str, float]) -> str:
    total = histogram.get(f"{KEEPALIVE}_count", 0.0)
    if not total:
        return "none"
    mean = histogram[f"{KEEPALIVE}_sum"] / total
    buckets = sorted((float(re.search(r'le="([^"]+)"', key)[1]), value) for key, value in histogram.items()
                     if key.startswith(f"{KEEPALIVE}_bucket"))
    median = next(bound for bound, seen in buckets if seen >= total / 2)
    highest = next(bound for bound, seen in buckets if seen >= total)
    return f"{total:.0f}, mean {mean * 1000:.0f} ms, median <= {median:g} s, all <= {highest:g} s"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def each(samples: list[float]) -> str:
    return ", ".join(f"{sample:.2f}" for sample in samples)


def etcd_part(phase: Phase) -> list[float]:
    return [cold - first for cold, first in zip(phase.cold, phase.first, strict=True)]


def spread(samples: list[float]) -> str:
    cut = percentiles([sample * 1000 for sample in samples])
    return f"p50 {cut['p50']:.0f} ms, p99 {cut['p99']:.0f} ms, max {cut['max']:.0f} ms"


def table(phases: list[Phase], cold_count: int, start_count: int) -> str:
    base = phases[0]

    def trips(phase: Phase, value: float, reference: float) -> str:
        """The difference from the reference column in round trips of this column's delay."""
        if not phase.delay or base.delay:
            return ""
        return f" ({(value - reference) / (2 * phase.delay):+.1f} round trips)"

    heads = [f"{phase.delay * 1000:.0f} ms each way" for phase in phases]
    rows = [
        (f"start -> visible ({start_count} containers, one by one)",
         [spread(p.starts) + trips(p, median(p.starts), median(base.starts)) for p in phases]),
        ("kv/txn requests, etcd revisions per start",
         [f"{sorted(set(p.txns))}, {sorted(set(p.revisions))}" for p in phases]),
        (f"cold sync of {cold_count} containers: agent spawn -> every index key (median of {COLD_RUNS}; each)",
         [f"{median(p.cold):.2f} s{trips(p, median(p.cold), median(base.cold))}; {each(p.cold)}" for p in phases]),
        ("(of which spawn -> the agent's first request to etcd: Python, Docker)",
         [f"{median(p.first):.2f} s" for p in phases]),
        ("(and its first request to etcd -> every index key)",
         [f"{median(etcd_part(p)):.2f} s{trips(p, median(etcd_part(p)), median(etcd_part(base)))}"
          for p in phases]),
        ("requests of the cold sync", [", ".join(f"{line.split(' /v3/')[1]} {n}" for line, n in
                                                 sorted(p.cold_requests.items())) for p in phases]),
        (f"keepalives (TTL {TTL}, timeout 0.5 s)", [keepalive_figures(p.keepalives) for p in phases]),
        ("keepalive failures; lease's lowest remaining TTL on etcd",
         [f"{p.failures:.0f}; {p.lowest_ttl} s{' LAPSED' if p.lapsed else ''}" for p in phases]),
        ("ERROR / WARNING lines", [f"{sum(n for line, n in p.lines.items() if line.startswith('ERROR'))} / "
                                   f"{sum(n for line, n in p.lines.items() if line.startswith('WARNING'))}"
                                   for p in phases]),
    ]
    lines = [f"| | {' | '.join(heads)} |", "|---" * (len(phases) + 1) + "|"]
    lines += [f"| {name} | {' | '.join(cells)} |" for name, cells in rows]
    return "\n".join(lines)


def notes(phases: list[Phase]) -> str:
    said = []
    for phase in phases:
        for line, n in sorted(phase.lines.items()):
            said.append(f"at {phase.delay * 1000:.0f} ms: {n} x `{line}`")
    text = "Log lines: " + ("; ".join(said) if said else "no ERROR or WARNING line at any delay") + "."
    slowest = phases[-1]
    if slowest.delay:
        text += (f" The last cold sync at {slowest.delay * 1000:.0f} ms, each request as the proxy read it (seconds "
                 f"after the spawn; it reaches etcd {slowest.delay * 1000:.0f} ms later): "
                 + ", ".join(f"{line} {at:.2f}" for at, line in slowest.cold_timeline)
                 + f"; every index key present at {slowest.cold[-1]:.2f}.")
    return textwrap.fill(text, width=115, break_long_words=False, break_on_hyphens=False)


INTRO = """\
`make bench-slow-etcd` (as root) runs `python -m bench.slow_etcd`: a private dockerd and etcd on loopback, and a
loopback TCP proxy of the tests' own between the agent and etcd (tests/support/latency.py: each chunk is held a
fixed delay in each direction, many in flight at once, order kept), at 0, 50 and 200 ms each way. The etcd
advertises the proxy's URL, so the agent never fails over around it; every figure is read on etcd directly. For
each delay, a root of its own and the agent with TTL 3 (keepalive every 1 s, timeout 0.5 s):

- **start -> visible**: containers started one by one while the agent runs (100 others registered); from Docker's
  `start` event (`timeNano`) to an independent watch on etcd seeing the index key put. "round trips" is the
  difference from the 0 ms column over 2 x the delay. The kv/txn requests through the proxy and the etcd
  revisions are counted per start.
- **cold sync**: 100 containers running; from spawning the agent process (Python start-up included) to every
  container's index key present on etcd (counted every 10 ms), 3 times (a root each), the median; split at the
  agent's first request through the proxy (before it: Python, Docker; after it: etcd's share). The requests of
  the last one, by path, and in the notes when the proxy read each at the largest delay.
- **keepalives**: the agent's `service_registrator_lease_keepalive_seconds` histogram over the phase (its buckets
  are coarse: 0.25, 0.5, 1 s) and `service_registrator_lease_keepalive_failures_total`; the lease's remaining TTL
  read on etcd every 100 ms (etcd answers in whole seconds, rounded down).
- **ERROR / WARNING lines** of the agent's log over the phase, before its SIGTERM.

The heading of each run gives the machine's load average: other work on this 2-core machine shows in the cold
sync's Python and Docker share first.
"""


def run(workdir: Path, delays: list[float], cold_count: int, start_count: int) -> list[Phase]:
    with private_engine("docker") as url, etcd_behind_proxy(workdir) as (member, proxy):
        client = docker.DockerClient(base_url=url, version="auto", timeout=120)
        build_test_image(client)
        agents = AgentFactory(workdir, url, proxy.url, agent_command())
        etcd = EtcdClient(member.url)
        try:
            events = DockerTimes(client)
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda n: run_container(client, f"cold-{n}"), range(cold_count)))
            say(f"{cold_count} containers running")
            return [measure(client, agents, etcd, proxy, delay, cold_count, start_count, events) for delay in delays]
        finally:
            agents.kill_all()
            for container in client.containers.list(all=True, filters={"label": BENCH_LABEL}):
                container.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 containers for the cold sync, 5 starts")
    parser.add_argument("--delays", default="0,50,200", help="milliseconds each way, comma-separated; the first "
                        "is the reference")
    parser.add_argument("--out", help="insert the report into this Markdown file, under " + repr(HEADING))
    args = parser.parse_args()
    delays = [int(part) / 1000 for part in args.delays.split(",") if part.strip()]
    cold_count, start_count = (30, 5) if args.quick else (100, 15)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every `finally` stops what it started
    workdir = Path(tempfile.mkdtemp(prefix="sr-slow-etcd-"))
    started, load_before = time.monotonic(), os.getloadavg()[0]
    try:
        phases = run(workdir, delays, cold_count, start_count)
    except BaseException:
        say(f"the benchmark did not finish; the agents' and etcd's logs are kept in {workdir}")
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    quick = " (--quick)" if args.quick else ""
    load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    publish(HEADING, f"{table(phases, cold_count, start_count)}\n\n{notes(phases)}", args.out, started,
            f"{quick}, {load}", INTRO)


if __name__ == "__main__":
    main()
