"""`discover`'s Prometheus metrics, on a registry of their own (the agent's are not its concern)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Info, ProcessCollector

from agent import __version__
from agent import metrics as agent_metrics

PREFIX = "service_registrator_discover_"
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

RELOADS = Counter(PREFIX + "reloads", "Configurations given to haproxy (the first, at its start, included), by "
                  "result: ok; refused (haproxy -c said no, nothing changed); failed (the master could not load it, "
                  "the old workers serve on).", ["result"],
                  registry=REGISTRY)
ROUTES = Gauge(PREFIX + "routes", "Routes (listeners) haproxy serves.", registry=REGISTRY)
BACKENDS = Gauge(PREFIX + "backends", "Backend addresses haproxy balances over, all routes together.",
                 registry=REGISTRY)
SKIPPED = Gauge(PREFIX + "skipped_keys", "Keys under the backends root skipped as invalid or in conflict.",
                registry=REGISTRY)
LEFT_OUT = Gauge(PREFIX + "routes_left_out", "Routes whose listener port cannot be bound on this host (another "
                 "process holds it, no right to bind it): left out, the others served.", registry=REGISTRY)
LAST_RELOAD = Gauge(PREFIX + "last_reload_timestamp_seconds", "When haproxy last loaded a new configuration.",
                    registry=REGISTRY)
Info(PREFIX + "build", "The version of service-registrator.", registry=REGISTRY).info({"version": __version__})


def render(figures: dict[str, float]) -> str:
    return agent_metrics.render(figures, REGISTRY)
