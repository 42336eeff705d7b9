"""The agent's Prometheus metrics (prometheus_client), on a registry of their own with the process_*
collector; `render` adds the status figures the agent reports at the moment of the scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from agent import __version__

PREFIX = "service_registrator_"
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

REGISTRATIONS = Counter(PREFIX + "registrations", "Container registrations and updates written, by result.",
                        ["result"], registry=REGISTRY)
REMOVALS = Counter(PREFIX + "removals", "Container removals written, by result.", ["result"], registry=REGISTRY)
ETCD_REQUESTS = Counter(PREFIX + "etcd_requests", "Requests to etcd, by operation and result.", ["op", "result"],
                        registry=REGISTRY)
KEYS_READ = Counter(PREFIX + "etcd_keys_read", "Keys read from etcd: values of range reads and keys listed on "
                    "the lease.", registry=REGISTRY)
WATCH_EVENTS = Counter(PREFIX + "etcd_watch_events", "Key changes seen by the self-healing watches.",
                       registry=REGISTRY)
KEEPALIVE_SECONDS = Histogram(PREFIX + "lease_keepalive_seconds", "Lease keepalive round trips.",
                              buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                              registry=REGISTRY)
KEEPALIVE_FAILURES = Counter(PREFIX + "lease_keepalive_failures", "Lease keepalives that failed.", registry=REGISTRY)
DOCKER_EVENTS = Counter(PREFIX + "docker_events", "Docker events read, by action.", ["action"], registry=REGISTRY)
EVENT_LAG = Gauge(PREFIX + "docker_event_lag_seconds", "Time from a Docker event to the agent reading it (last "
                  "event).", registry=REGISTRY)
LAST_FULL_SYNC = Gauge(PREFIX + "last_full_sync_timestamp_seconds", "When etcd was last compared in full and in "
                       "step.", registry=REGISTRY)
Info(PREFIX + "build", "The agent's version.", registry=REGISTRY).info({"version": __version__})


class Figures:
    """The agent's status at scrape time (ready, lease_fresh, written_keys, …) as gauges."""

    def __init__(self, figures: dict[str, float]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        for name, value in sorted(self._figures.items()):
            yield GaugeMetricFamily(PREFIX + name, name.replace("_", " ") + ".", value=value)


def render(figures: dict[str, float], registry: CollectorRegistry = REGISTRY) -> str:
    """Every metric of `registry` in the Prometheus text format, then the status figures."""
    status = CollectorRegistry(auto_describe=False)
    status.register(Figures(figures))
    return (generate_latest(registry) + generate_latest(status)).decode()
