"""`service-registrator discover [check] [--once]`: exit 0, 1 (etcd or haproxy failed), 2 (a bad setting).
agent/cli.py calls `load`, then `run`."""

from __future__ import annotations

import logging
import sys

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError
from agent.discover.haproxy import Haproxy
from agent.discover.render import render
from agent.discover.routes import RouteTable, route_table
from agent.discover.settings import DiscoverConfig, load

log = logging.getLogger(__name__)
__all__ = ["load", "run"]


def run(config: DiscoverConfig) -> int:
    if config.once or config.command == "check":
        return check(config) if config.command == "check" else once(config)
    from agent.discover.app import Discover

    return Discover(config).run()


def read_routes(config: DiscoverConfig) -> RouteTable | None:
    """The routes as etcd holds them now, every skipped key warned about; None (and one line) when etcd
    cannot be read."""
    try:
        found, _ = Etcd.from_config(config).read(prefixes=[config.backends_dir + "/"])
    except EtcdError as exc:
        endpoints = ", ".join(map(str, config.etcd_endpoints))
        print(f"service-registrator discover: cannot read etcd at {endpoints}: {exc}", file=sys.stderr)
        return None
    # no bind probe here (agent/discover/ports.py): a running discover holds the ports it serves
    table = route_table(config.backends_dir, found, config.local_backends)
    for item in table.skipped:
        log.warning("skipping %r: %s", item.key, item.reason)
    return table


def once(config: DiscoverConfig) -> int:
    """--once: the configuration for the routes etcd holds now, on stdout."""
    table = read_routes(config)
    if table is None:
        return 1
    sys.stdout.write(render(table, config.bind, Haproxy(config.haproxy_bin, config.haproxy_config).listeners_socket))
    return 0


def check(config: DiscoverConfig) -> int:
    """The settings are valid (or load() said otherwise); etcd answers; haproxy accepts the rendering."""
    table = read_routes(config)
    if table is None:
        return 1
    print(f"etcd: ok, {len(table.routes)} routes, {table.backend_count} backends, {len(table.skipped)} keys skipped "
          f"under {config.backends_dir}/")
    haproxy = Haproxy(config.haproxy_bin, config.haproxy_config)
    reason = haproxy.check(render(table, config.bind, haproxy.listeners_socket))
    if reason is not None:
        print(f"haproxy: FAILED, {haproxy.version()} refuses the rendering: {reason}")
        return 1
    print(f"haproxy: ok, {haproxy.version()} accepts the rendering; configuration {config.haproxy_config}, "
          f"listeners on {config.bind}")
    return 0
