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


def bind_address(bind: str) -> str:
    """`bind` as haproxy reads it before `:<port>`: IPv6 in brackets (`[::1]:80`, checked with haproxy 2.6).
    A zone (`fe80::1%eth0`) is refused: its text is free."""
    address = ipaddress.ip_address(bind.strip("[]"))
    if getattr(address, "scope_id", None) is not None:
        raise ValueError(f"bind address {bind!r} has a zone; expected a plain IP address")
    return f"[{address}]" if address.version == 6 else str(address)


def render(table: RouteTable, bind: str) -> str:
    """The whole configuration text; the empty table gives global and defaults only (haproxy starts so)."""
    address = bind_address(bind)
    lines = [HEADER, *PREAMBLE]
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
