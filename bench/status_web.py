"""`status --serve` at fleet size (issue 25): the live web page against a registry of N hosts.

    python -m bench.status_web [--hosts 1000] [--out docs/benchmarks.md] [--screenshot docs/status-web.png]

A private etcd on loopback is filled with N hosts x 30 containers (bench/foreign.py), three services of backends
keys on the first hosts' leases, and one planted anomaly (a host index entry naming a missing container). Then
`status --serve` as a child: the seconds until its first snapshot (the paged read of every root and the model),
its peak RSS at the end; in headless chromium (selenium): the first paint (from asking for the page to the first
host row drawn), a change's way to the page (a container's keys put on a host's lease -> its name on the page;
ROUNDS times), and a search narrowing the rows. --screenshot saves the page as the README shows it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from bench.etcdkit import Registry
from bench.foreign import ForeignHost, load_hosts
from bench.harness import publish
from tests.support.agents import REPO
from tests.support.servers import free_port, start_etcd
from tests.support.statuspage import first_snapshot, headless_chromium, host_rows, serve_command, serve_environment

HEADING = "## status --serve at fleet size (issue 25)"
ROOT = "/sr-web"
ROUNDS = 5
QUOTA = str(8 * 1024**3)
SERVICES = ("shop", "api", "search")


def plant_extras(url: str, hosts: list[ForeignHost]) -> None:
    """Backends of three services on the first hosts' leases, and one anomaly (a dangling index entry)."""
    registry = Registry(url)
    for number, host in enumerate(hosts[:6]):
        service = SERVICES[number % len(SERVICES)]
        cid = host.containers[0][0][:12]
        registry.put_all({f"{ROOT}-b/{service}/1/{cid}": f"10.0.{number}.1:8080", f"{ROOT}-b/{service}/1/port": "80"},
                         host.lease)
    registry.put_all({f"{ROOT}/hosts/{hosts[1].name}/ghost": "f" * 64}, hosts[1].lease)


@contextmanager
def serving(url: str, log: Path) -> Iterator[tuple[subprocess.Popen, str, float]]:
    port = free_port()
    began = time.monotonic()
    with open(log, "wb") as output:
        process = subprocess.Popen(serve_command(url, port, ROOT, "--log-level", "debug"), env=serve_environment(),
                                   cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    page = f"http://127.0.0.1:{port}/"
    try:
        until(lambda: first_snapshot(page), 600)
        yield process, page, time.monotonic() - began
    finally:
        process.terminate()
        process.wait(30)


def until(probe: Callable[[], object], timeout: float, interval: float = 0.01) -> float:
    """Seconds until `probe()` is true (an AssertionError after `timeout`)."""
    began = time.monotonic()
    while not probe():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"no answer within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - began


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def first_paint(driver: WebDriver, page: str) -> float:
    began = time.monotonic()
    driver.get(page)
    until(lambda: driver.find_elements(By.CSS_SELECTOR, "tr.host"), 120)
    return time.monotonic() - began


def changes_shown(driver: WebDriver, url: str, host: ForeignHost) -> list[float]:
    """Seconds from a new container's index entry put on `host`'s lease to its name on the page, ROUNDS times;
    the search shows `host` alone, so that its row is on the page."""
    registry = Registry(url)
    search = driver.find_element(By.ID, "search")
    search.send_keys(host.name)
    until(lambda: list(host_rows(driver)) == [host.name], 60)
    seconds = []
    for round_number in range(ROUNDS):
        name = f"bench-new-{round_number}"
        began = time.monotonic()
        registry.put_all({f"{ROOT}/hosts/{host.name}/{name}": host.containers[round_number][0]}, host.lease)
        until(lambda name=name: name in driver.find_element(By.ID, "rows").text, 120)
        seconds.append(time.monotonic() - began)
    search.clear()
    return seconds


def snapshot_seconds(log: Path) -> list[float]:
    """The seconds each snapshot took, from the debug lines of `status --serve`."""
    return [float(line.rsplit(" in ", 1)[1].rstrip("s")) for line in log.read_text().splitlines()
            if " snapshot " in line and " keys at revision " in line]


def measure(url: str, hosts: list[ForeignHost], screenshot: str | None, log: Path) -> list[str]:
    driver = headless_chromium()
    try:
        with serving(url, log) as (process, page, ready):
            cold = first_paint(driver, page)
            warm = first_paint(driver, page)
            if screenshot:
                driver.save_screenshot(screenshot)
            shown = changes_shown(driver, url, hosts[0])
            peak = peak_mb(process.pid)
    finally:
        driver.quit()
    made = snapshot_seconds(log)
    return [f"**{len(hosts):,} hosts x 30 containers** (load average {os.getloadavg()[0]:.1f})", "",
            "| figure | value |", "|---|---|",
            f"| `status --serve` start -> first snapshot (paged read of every root, the model) | {ready:.2f} s |",
            f"| first paint: page asked -> first host row drawn (cold browser / again) | {cold:.2f} s / "
            f"{warm:.2f} s |",
            f"| a change -> on the page ({ROUNDS} rounds: median, max) | {statistics.median(shown):.2f} s, "
            f"{max(shown):.2f} s |",
            f"| one snapshot (the model of every key, made after each burst of changes: median, max) | "
            f"{statistics.median(made):.2f} s, {max(made):.2f} s |",
            f"| peak RSS of `status --serve` | {peak:.0f} MB |", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--out", help="insert the report into this Markdown file")
    parser.add_argument("--screenshot", help="save the hosts tab as a PNG")
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sr-bench-web-") as workdir:
        etcd = start_etcd(Path(workdir), extra=("--quota-backend-bytes", QUOTA))
        try:
            hosts = load_hosts(etcd.url, ROOT, 0, args.hosts)
            plant_extras(etcd.url, hosts)
            report = measure(etcd.url, hosts, args.screenshot, Path(workdir) / "serve.log")
        finally:
            etcd.stop()
    publish(HEADING, "\n".join(report), args.out, began)


if __name__ == "__main__":
    main()
