"""The haproxy 2.6 configuration of a route table: one TCP `listen` section per route.

Pure. Only identifiers of haproxy's safe characters, `ipaddress`-normalised addresses and ints reach the text,
and `render` checks that again itself, so no value read from etcd can add a line, a directive or a file path.
"""

from __future__ import annotations

import ipaddress
import re

from agent.discover.routes import SERVICE_CHARS, Route, RouteTable, identifier, parse_address

HEADER = "# service-registrator discover: generated from the backends layout; edits are overwritten"
PREAMBLE = (
    "global",
    "    master-worker",
    "    maxconn 4096",
    "",
    "defaults",
    "    mode tcp",
    "    timeout connect 3s",
    "    timeout client 1m",
    "    timeout server 1m",
    "    retries 2",
    "    option redispatch",
    "    default-server inter 1s fall 2 rise 2",
)
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]+")
SOCKET_PATH = re.compile(r"[^\s\x00-\x1f\x7f\"'\\#$]+")  # a path haproxy reads as one word, unquoted


def bind_address(bind: str) -> str:
    """`bind` as haproxy reads it before `:<port>`: IPv6 in brackets (`[::1]:80`, checked with haproxy 2.6).
    A zone (`fe80::1%eth0`) is refused: its text is free."""
    address = ipaddress.ip_address(bind.strip("[]"))
    if getattr(address, "scope_id", None) is not None:
        raise ValueError(f"bind address {bind!r} has a zone; expected a plain IP address")
    return f"[{address}]" if address.version == 6 else str(address)


def render(table: RouteTable, bind: str, listeners_socket: str | None = None) -> str:
    """The whole configuration text; the empty table gives global and defaults only (haproxy starts so).

    `listeners_socket`: the workers' stats socket with `expose-fd listeners`, over which a reloading master's
    new workers take the listening sockets of the old ones, every time: without a listener of its own an old
    worker with no route has nothing to hand over, and haproxy 2.6 logs an ALERT at that first reload."""
    address = bind_address(bind)
    lines = [HEADER, *PREAMBLE]
    if listeners_socket is not None:
        if not SOCKET_PATH.fullmatch(listeners_socket):
            raise ValueError(f"socket path {listeners_socket!r} is not one haproxy word")
        lines.insert(lines.index("    master-worker") + 1,
                     f"    stats socket {listeners_socket} mode 600 level admin expose-fd listeners")
    for route in table.routes:
        lines += ["", *_listen(route, address)]
    return "\n".join(lines) + "\n"


def _listen(route: Route, bind: str) -> list[str]:
    if not 0 < route.port < 65536:
        raise ValueError(f"route port {route.port} is not 1..65535")
    lines = [f"listen {_checked(route.proxy)}",
             f"    # service {identifier(route.service, SERVICE_CHARS)} route {int(route.number)}",
             f"    bind {bind}:{int(route.port)}",
             "    balance roundrobin"]
    for backend in route.backends:
        address = parse_address(backend.address)
        if address is None:
            raise ValueError(f"backend address {backend.address!r} is not ip:port")
        lines.append(f"    server {_checked(backend.server)} {address} check")
    return lines


def _checked(name: str) -> str:
    """A table built by hand must not smuggle text in either."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a haproxy identifier")
    return name
