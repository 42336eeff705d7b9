"""Prometheus metrics without a client library: counters, gauges and histograms in the text format."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from agent import __version__

PREFIX = "service_registrator_"


def number(value: float) -> str:
    """Whole numbers as integers, others with full precision (timestamps must not lose seconds)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for value in values)
    return "{" + ",".join(f'{name}="{value}"' for name, value in zip(names, escaped, strict=True)) + "}"


class Counter:
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = PREFIX + name, help_text, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + amount

    def samples(self) -> Iterable[str]:
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {number(value)}"


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.buckets = PREFIX + name, help_text, buckets
        self.counts = [0] * len(buckets)
        self.total, self.count = 0.0, 0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def samples(self) -> Iterable[str]:
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            yield f'{self.name}_bucket{{le="{bound:g}"}} {running}'
        yield f'{self.name}_bucket{{le="+Inf"}} {self.count}'
        yield f"{self.name}_sum {number(self.total)}"
        yield f"{self.name}_count {self.count}"


REGISTRATIONS = Counter("registrations_total", "Container registrations and updates written, by result.",
                        ("result",))
REMOVALS = Counter("removals_total", "Container removals written, by result.", ("result",))
ETCD_REQUESTS = Counter("etcd_requests_total", "Requests to etcd, by operation and result.", ("op", "result"))
KEEPALIVE_SECONDS = Histogram("lease_keepalive_seconds", "Lease keepalive round trips.",
                              (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
KEEPALIVE_FAILURES = Counter("lease_keepalive_failures_total", "Lease keepalives that failed.")
DOCKER_EVENTS = Counter("docker_events_total", "Docker events read, by action.", ("action",))
EVENT_LAG = Gauge("docker_event_lag_seconds", "Time from a Docker event to the agent reading it (last event).")
LAST_FULL_SYNC = Gauge("last_full_sync_timestamp_seconds", "When etcd was last compared in full and in step.")
KEYS_READ = Counter("etcd_keys_read_total", "Keys read from etcd: values of range reads and keys listed on the lease.")
WATCH_EVENTS = Counter("etcd_watch_events_total", "Key changes seen by the self-healing watches.")
BUILD_INFO = Gauge("build_info", "The agent's version.", ("version",))
BUILD_INFO.set(1, __version__)
ALL = (BUILD_INFO, REGISTRATIONS, REMOVALS, ETCD_REQUESTS, KEEPALIVE_SECONDS, KEEPALIVE_FAILURES,
       DOCKER_EVENTS, EVENT_LAG, LAST_FULL_SYNC, KEYS_READ, WATCH_EVENTS)


def render(extra: dict[str, float]) -> str:
    """Every metric in the Prometheus text format, then the plain status figures in `extra`."""
    lines = []
    for metric in ALL:
        lines += [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} {metric.kind}", *metric.samples()]
    lines += [f"{PREFIX}{name} {number(value)}" for name, value in sorted(extra.items())]
    return "\n".join(lines) + "\n"
