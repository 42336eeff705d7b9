"""`status` at fleet size (issue 25): what the operator's commands cost against a registry of N hosts.

    python -m bench.status_fleet [--hosts 100,1000] [--before DIR] [--out docs/benchmarks.md]

A private etcd (Debian's etcd 3.4 unless SR_TEST_ETCD names another) on loopback is filled with N hosts x 30
containers of ec keys and a marker each, every host on a lease of its own (bench/foreign.py writes them, in
transactions of 128 puts, 8 writers), growing from one N to the next. At each N: the floor, a plain client paging
through every key under the ec root (keys only, 10,000 a page, in this process: no interpreter start), then
`status`, `status --summary` and `status --host other-0000` as child processes: wall time and peak RSS (the
child's own, from /usr/bin/time; the short commands the median of three runs), and the wall time less that of
`status --help` (Python's start and the imports, measured in the same run, the median of three). `--before DIR`
runs `status` and `status --summary` of another checkout too (DIR on PYTHONPATH, e.g. a `git worktree` of the
commit before; its rows name its commit). --out inserts the report under HEADING.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.etcdkit import Registry, b64, prefix_end
from bench.foreign import load_hosts
from bench.harness import publish
from tests.support.agents import REPO
from tests.support.servers import start_etcd

HEADING = "## status at fleet size (issue 25)"
ROOT = "/sr-fleet"
FLOOR_PAGE = 10_000
QUOTA = str(8 * 1024**3)  # etcd's default 2 GB backend is too small for 5,000 hosts' keys and their history


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    code: int
    said: str  # the last line of stderr when it failed, else the anomalies line


def floor(url: str, prefix: str) -> tuple[float, int]:
    """Seconds to page through every key under `prefix`, keys only, FLOOR_PAGE a page, at one revision."""
    registry, start, revision, keys = Registry(url, timeout=120), b64(prefix), 0, 0
    began = time.monotonic()
    while True:
        reply = registry.post("kv/range", {"key": start, "range_end": prefix_end(prefix), "limit": FLOOR_PAGE,
                                           "revision": str(revision), "keys_only": True})
        revision = revision or int(reply["header"]["revision"])
        kvs = reply.get("kvs") or []
        keys += len(kvs)
        if not reply.get("more") or not kvs:
            return time.monotonic() - began, keys
        start = b64(base64.b64decode(kvs[-1]["key"]) + b"\0")


def timed(args: list[str], url: str, path: str | None = None) -> Run:
    """One `status` child under /usr/bin/time: wall time from spawn to exit, its own peak RSS (time's %M: a child
    forked from this process would count this process's pages until its exec)."""
    env = {**os.environ, "PYTHONPATH": path or str(REPO)}
    command = [sys.executable, "-m", "agent", "status", "--etcd-hosts", url.removeprefix("http://"),
               "--etcd-dir", ROOT, "--backends-dir", ROOT + "-b", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss:
        began = time.monotonic()
        code = subprocess.run(["/usr/bin/time", "-o", rss.name, "-f", "%M", *command], stdout=out, stderr=err,
                              env=env, cwd=path or REPO).returncode
        seconds = time.monotonic() - began
        out.seek(0)
        err.seek(0)
        lines = [line for line in out.read().decode().splitlines() if "anomal" in line][:1]
        said = "".join(lines) or (err.read().decode().strip().splitlines() or [""])[-1].replace("|", "/")
        peak = int(rss.read().split()[-1]) / 1024
    return Run(seconds, peak, code, said[:160])


def row(name: str, run: Run, start: float, floor_seconds: float | None = None) -> str:
    ratio = f", {run.seconds / floor_seconds:.2f}x the floor" if floor_seconds else ""
    return (f"| {name} | {run.seconds:.2f} s | {run.seconds - start:.2f} s{ratio} | {run.peak_mb:.0f} MB | "
            f"exit {run.code}: {run.said} |")


def median(args: list[str], url: str, path: str | None = None) -> Run:
    """The median (by wall time) of three runs: for the commands of a second or so, where the noise of a shared
    machine is as large as what is measured."""
    return sorted((timed(args, url, path) for _ in range(3)), key=lambda run: run.seconds)[1]


def commit_of(path: str) -> str:
    return subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or path


def measure(url: str, hosts: int, before: str | None) -> list[str]:
    seconds, keys = floor(url, ROOT + "/")
    index_seconds, index_keys = floor(url, ROOT + "/hosts/")
    start = median(["--help"], url)
    lines = [f"**{hosts:,} hosts x 30 containers** ({keys:,} keys under the ec root; load average "
             f"{os.getloadavg()[0]:.1f})", "",
             "| command | wall | wall - start | peak RSS | result |", "|---|---|---|---|---|",
             f"| floor: a plain client paging keys only, {FLOOR_PAGE:,} a page | {seconds:.2f} s | - | - | "
             f"{keys:,} keys |",
             f"| floor of `--summary`: the same, of the host indexes `{ROOT}/hosts/` | {index_seconds:.2f} s | - | - | "
             f"{index_keys:,} keys |",
             f"| start: `status --help` (median of 3) | {start.seconds:.2f} s | - | {start.peak_mb:.0f} MB | - |"]
    if before:
        lines.append(row(f"`status` of {commit_of(before)}", timed([], url, before), start.seconds, seconds))
    lines.append(row("`status`", timed([], url), start.seconds, seconds))
    if before:
        lines.append(row(f"`status --summary` of {commit_of(before)} (median of 3)", median(["--summary"], url, before),
                         start.seconds))
    lines.append(row("`status --summary` (median of 3)", median(["--summary"], url), start.seconds))
    lines.append(row("`status --host other-0000` (median of 3)", median(["--host", "other-0000"], url),
                     start.seconds))
    for line in lines:
        print(line, flush=True)
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="100,1000", help="comma-separated fleet sizes, growing")
    parser.add_argument("--before", help="a checkout whose `status` and `--summary` are measured too (the figures "
                        "before)")
    parser.add_argument("--out", help="insert the report into this Markdown file")
    args = parser.parse_args()
    sizes = sorted({int(part) for part in args.hosts.split(",")})
    began = time.monotonic()
    report = []
    with tempfile.TemporaryDirectory(prefix="sr-bench-status-") as workdir:
        etcd = start_etcd(Path(workdir), extra=("--quota-backend-bytes", QUOTA))
        try:
            planted = 0
            for size in sizes:
                load_hosts(etcd.url, ROOT, planted, size - planted)
                planted = size
                report += measure(etcd.url, size, args.before)
        finally:
            etcd.stop()
    publish(HEADING, "\n".join(report), args.out, began)


if __name__ == "__main__":
    main()
