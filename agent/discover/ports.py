"""Whether a route's listener port can be bound on this host, asked before haproxy is (`haproxy -c` does not
bind): a port another process holds (a container published with `-p 8080:8080`, the agent's own 9479), a port
below 1024 without the right to bind it, or no descriptor left would make the master refuse the WHOLE new
configuration. Such a route is left out, with its reason, and the rest are served."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Collection
from dataclasses import replace

from agent.discover.routes import RouteTable, Skipped

Probe = Callable[[str, int], str | None]  # (bind address, port) -> why it cannot be bound, or None


def bind_problem(address: str, port: int) -> str | None:
    """Bind and close a socket on `address:port`, as haproxy would bind it (SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((address, port))
    except OSError as exc:
        return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    return None


def leave_out_unbindable(table: RouteTable, bind: str, served: Collection[int], probe: Probe = bind_problem
                         ) -> tuple[RouteTable, int]:
    """The table without the routes whose port cannot be bound (ports haproxy serves now are its own and are not
    asked), each left out as a skipped port key with the reason; and how many were left out."""
    kept, left_out = [], []
    for route in table.routes:
        problem = None if route.port in served else probe(bind, route.port)
        if problem is None:
            kept.append(route)
        else:
            left_out.append(Skipped(route.port_key, f"port {route.port} cannot be bound on {bind} ({problem}); route "
                                                    f"{route.proxy} left out, the others are served"))
    skipped = tuple(sorted((*table.skipped, *left_out), key=lambda item: item.key))
    return replace(table, routes=tuple(kept), skipped=skipped), len(left_out)
