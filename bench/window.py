"""A measurement window: etcd's traffic counters and processes' CPU time, before and after."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.etcdkit import Counters, scrape


@dataclass(frozen=True)
class Window:
    seconds: float
    traffic: Counters
    cpu: dict[str, float] = field(default_factory=dict)  # group -> % of one core, summed over its processes

    @property
    def bytes_per_minute(self) -> float:
        return self.traffic.sent_bytes * 60 / self.seconds

    @property
    def keepalives_per_second(self) -> float:
        return self.traffic.keepalives / self.seconds

    @property
    def renewals_per_second(self) -> float:
        return self.traffic.renewals / self.seconds


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of the processes still running (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(urls: Sequence[str], groups: Mapping[str, Sequence[int]], seconds: float) -> Window:
    """Sleep `seconds`; etcd's counters (summed over `urls`) and each group's CPU over that time."""
    before, cpu_before, started = scrape(urls), {name: cpu_seconds(pids) for name, pids in groups.items()}, \
        time.monotonic()
    time.sleep(seconds)
    after, cpu_after = scrape(urls), {name: cpu_seconds(pids) for name, pids in groups.items()}
    elapsed = time.monotonic() - started
    cpu = {name: 100 * (cpu_after[name] - cpu_before[name]) / elapsed for name in groups}
    return Window(elapsed, after - before, cpu)


def human_bytes(count: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"
