"""The routes of the backends layout (SPEC §4), read back from etcd for `service-registrator discover`:

    <root>/<service>/<n>/<container> = "<ip>:<port>"        a backend of the route (service, n)
    <root>/<service>/<n>/port        = "<container port>"   the route's listener port

Pure. Everything read is untrusted (labels choose service names, anyone with write access chooses values):
only ints, `ipaddress`-normalised addresses and identifiers reduced to haproxy's safe characters leave here,
and every reason is one printable line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.core.escape import unescape_segment
from agent.core.kv import KeyValue
from agent.layouts.backends import PORT_LEAF, split_key

MOST_NUMBER = 10**6
SERVICE_CHARS, SERVER_CHARS, SHOWN_CHARS = 48, 32, 60

_NUMBER = re.compile(r"[1-9][0-9]{0,6}")
_PORT = re.compile(r"[0-9]{1,5}")
_ADDRESS = re.compile(r"(?:(?P<v4>[0-9.]{7,15})|\[(?P<v6>[0-9A-Fa-f:.]{2,45})\]):(?P<port>[0-9]{1,5})")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


@dataclass(frozen=True)
class Backend:
    server: str  # haproxy server identifier, unique within its route
    address: str  # "1.2.3.4:80" or "[fd00::1]:80", normalised by the ipaddress module
    key: str  # the etcd key it came from


@dataclass(frozen=True)
class Route:
    service: str  # the service name as registered (unescaped): untrusted, for log lines only
    number: int
    port: int  # the listener port
    proxy: str  # haproxy proxy identifier, unique in the table
    backends: tuple[Backend, ...]  # sorted by server
    port_key: str


@dataclass(frozen=True)
class Skipped:
    key: str  # untrusted as read
    reason: str  # one printable line


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]  # sorted by port
    skipped: tuple[Skipped, ...]  # sorted by key

    @property
    def backend_count(self) -> int:
        return sum(len(route.backends) for route in self.routes)


@dataclass
class _Group:
    """Everything valid read for one route (service segment, n)."""

    segment: str
    number: int
    port_kv: KeyValue | None = None
    port: int = 0
    backends: list[tuple[KeyValue, str]] = field(default_factory=list)

    @property
    def service(self) -> str:
        return unescape_segment(self.segment)


def identifier(text: str, cap: int) -> str:
    """`text` as a haproxy proxy or server name: letters, digits, `-_.:` only, at most `cap` characters."""
    return _UNSAFE.sub("_", text[:cap])


def shown(text: str) -> str:
    """Untrusted text quoted for a log line: printable, one line, short."""
    return repr(text[:SHOWN_CHARS]) + ("..." if len(text) > SHOWN_CHARS else "")


def parse_port(text: str) -> int | None:
    """ASCII digits only (no sign, no space, no other script's digits), 1..65535."""
    return int(text) if _PORT.fullmatch(text) and 0 < int(text) < 65536 else None


def parse_address(text: str) -> str | None:
    """`1.2.3.4:80` or `[fd00::1]:80`, normalised; None for anything else (hostnames, zones, extra text)."""
    match = _ADDRESS.fullmatch(text)
    port = parse_port(match["port"]) if match else None
    if match is None or port is None:
        return None
    try:
        address = ipaddress.ip_address(match["v4"] or match["v6"])
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast or (match["v6"] and address.version != 6):
        return None
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def is_local(address: str) -> bool:
    """A loopback or link-local backend (`parse_address`'s form; an IPv4-mapped IPv6 address as its IPv4):
    every discover host would send its traffic to a port of its own."""
    host = ipaddress.ip_address(address.rsplit(":", 1)[0].strip("[]"))
    mapped = getattr(host, "ipv4_mapped", None) or host
    return mapped.is_loopback or mapped.is_link_local


Owners = Mapping[int, tuple[str, int]]  # listener port -> (service, n) of the route serving it


def owners_of(table: RouteTable) -> dict[int, tuple[str, int]]:
    return {route.port: (route.service, route.number) for route in table.routes}


def route_table(root: str, kvs: Iterable[KeyValue], local_backends: bool = False, owners: Owners | None = None
                ) -> RouteTable:
    """The routes under `root`, and every key not used with the reason why. The same key-values in any order
    give an equal table. Loopback and link-local backends are used only with `local_backends` (one machine).
    A port in `owners` (the routes served now) stays with its route while that route has backends."""
    groups: dict[tuple[str, int], _Group] = {}
    skipped: list[Skipped] = []
    for kv in sorted(_latest(kvs).values(), key=lambda kv: kv.key):
        problem = _place(root, kv, groups, local_backends)
        if problem:
            skipped.append(Skipped(kv.key, problem))
    routes = tuple(_route(group) for group in _claims(groups.values(), skipped, owners or {}))
    return RouteTable(routes, tuple(sorted(skipped, key=lambda item: item.key)))


def _latest(kvs: Iterable[KeyValue]) -> dict[str, KeyValue]:
    """One key-value per key (etcd never gives two; a careless caller might): the latest, by content on ties."""
    latest: dict[str, KeyValue] = {}
    for kv in sorted(kvs, key=lambda kv: (kv.mod_revision, kv.create_revision, kv.value, kv.lease)):
        latest[kv.key] = kv
    return latest


def _place(root: str, kv: KeyValue, groups: dict[tuple[str, int], _Group], local_backends: bool) -> str | None:
    """Files `kv` in its group; the reason when it cannot be used."""
    parts = split_key(root, kv.key)
    if parts is None or not all(parts):
        return "key is not <root>/<service>/<n>/<container or port>"
    segment, number, leaf = parts
    if not _NUMBER.fullmatch(number) or int(number) > MOST_NUMBER:
        return f"route number {shown(number)} is not 1..{MOST_NUMBER}"
    group = groups.setdefault((segment, int(number)), _Group(segment, int(number)))
    if leaf == PORT_LEAF:
        port = parse_port(kv.value)
        if port is None:
            return f"port {shown(kv.value)} is not 1..65535"
        group.port_kv, group.port = kv, port
        return None
    address = parse_address(kv.value)
    if address is None:
        return f"value {shown(kv.value)} is not ip:port"
    if not local_backends and is_local(address):
        return (f"backend {address} is a loopback or link-local address: every discover host would send it to "
                "itself (EC_REGISTRATOR_DISCOVER_LOCAL_BACKENDS=true on a single machine)")
    group.backends.append((kv, address))
    return None


def _claims(groups: Iterable[_Group], skipped: list[Skipped], owners: Owners) -> list[_Group]:
    """The groups that get their listener port, in port order. A port is kept by the route that serves it now
    (`owners`), else by the route whose port key was created first (then: key order): a port key put back with
    a newer revision (its host died, another host of the service put it again) does not hand the port over.
    A route without backends claims nothing (normal between writes)."""
    ready: list[tuple[KeyValue, _Group]] = []
    for group in groups:
        if group.backends and group.port_kv is None:
            reason = f"no valid port key for service {shown(group.service)} route {group.number}"
            skipped.extend(Skipped(kv.key, reason) for kv, _ in group.backends)
        elif group.backends and group.port_kv is not None:
            ready.append((group.port_kv, group))
    winners: dict[int, _Group] = {}
    def order(item: tuple[KeyValue, _Group]) -> tuple[bool, int, str]:
        port_kv, group = item
        return owners.get(group.port) != (group.service, group.number), port_kv.create_revision, port_kv.key

    for port_kv, group in sorted(ready, key=order):
        first = winners.setdefault(group.port, group)
        if first is not group:
            skipped.append(Skipped(port_kv.key, (
                f"port {group.port} is already routed for service {shown(first.service)} route {first.number} "
                f"({'serving it' if owners.get(group.port) == (first.service, first.number) else 'registered first'}"
                f"); service {shown(group.service)} route {group.number} skipped")))
    return [winners[port] for port in sorted(winners)]


def _route(group: _Group) -> Route:
    service = group.service
    proxy = f"{identifier(service, SERVICE_CHARS)}-{group.number}-{group.port}"  # the port makes it unique
    port_key = group.port_kv.key if group.port_kv else ""
    return Route(service, group.number, group.port, proxy, _servers(group.backends), port_key)


def _servers(backends: list[tuple[KeyValue, str]]) -> tuple[Backend, ...]:
    """Server names unique within the route: a name already taken (two containers reduced to the same
    identifier) gets `-2`, `-3`, ... in key order."""
    taken: set[str] = set()
    found = []
    for kv, address in sorted(backends, key=lambda item: item[0].key):
        base = identifier(unescape_segment(kv.key.rsplit("/", 1)[-1]), SERVER_CHARS)
        server, count = base, 1
        while server in taken:
            count += 1
            server = f"{base}-{count}"
        taken.add(server)
        found.append(Backend(server, address, kv.key))
    return tuple(sorted(found, key=lambda backend: backend.server))
