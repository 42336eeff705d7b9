"""The web page's model of the registry at one revision (`Snapshot`): hosts with their containers, services with
their backends and traefik routes, and the anomalies of `status` (agent/status/report.py), each placed on the
host whose key it is; and the page's one query of it (`page_of`: a tab, a search, one page of rows), so that
what a browser is sent stays a page, whatever the fleet. Pure.

Every name here comes from etcd and is untrusted: the page renders it as text (page.js never parses it as HTML)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from agent.core.escape import escape_segment, unescape_segment
from agent.core.kv import KeyValue, LeaseInfo
from agent.layouts.backends import PORT_LEAF, split_key
from agent.layouts.ec import AGENTS, CONTAINERS, HOSTS, LABELS, parse_key
from agent.status.registry import ROUTERS, Anomaly, Registry, TraefikKey, marker_fields
from agent.status.report import HostRow, report_of
from agent.status.views import containers_of

PAGE_ROWS = 50
HOSTS_TAB, SERVICES_TAB, ANOMALIES_TAB = "hosts", "services", "anomalies"
TABS = (HOSTS_TAB, SERVICES_TAB, ANOMALIES_TAB)
Row = dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """Each tab's rows, sorted, and beside each row the lower-case text a search looks in."""

    version: int
    revision: int
    rows: Mapping[str, tuple[Row, ...]]
    texts: Mapping[str, tuple[str, ...]]

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(0, 0, {tab: () for tab in TABS}, {tab: () for tab in TABS})


def snapshot_of(registry: Registry, keys: Mapping[str, KeyValue], leases: Mapping[int, LeaseInfo], revision: int,
                version: int) -> Snapshot:
    """The snapshot of what `registry` sorted, with what etcd said of the markers' `leases`; `keys` are the keys
    read but the containers' fields (agent/status/live/mirror.py): the backends keys' values, the anomalies'
    leases."""
    report = report_of(registry, leases, revision)
    owners, hosting = lease_owners(registry), container_hosts(registry)
    anomalies = [anomaly_row(item, host_of_key(registry.ec_root, item.key, keys, owners, hosting))
                 for item in report.anomalies]
    per_host = Counter(item["host"] for item in anomalies)
    hosts = [host_row(registry, row, per_host[row.host]) for row in report.hosts]
    services = services_of(keys, registry, owners)
    rows = {HOSTS_TAB: tuple(hosts), SERVICES_TAB: tuple(services), ANOMALIES_TAB: tuple(anomalies)}
    return Snapshot(version, revision, rows, {tab: tuple(map(search_text, found)) for tab, found in rows.items()})


def lease_owners(registry: Registry) -> dict[int, str]:
    """The host (unescaped) of each lease a marker is on."""
    return {fields.on: unescape_segment(segment) for segment, kv in registry.markers.items()
            if (fields := marker_fields(kv)).on}


def host_row(registry: Registry, row: HostRow, anomalies: int) -> Row:
    containers = [{"name": item.name, "id": item.id} for item in containers_of(registry, escape_segment(row.host))]
    return {**vars(row), "lease": f"{row.lease:x}" if row.lease else "", "anomalies": anomalies,
            "items": containers}  # vars: a HostRow holds plain values, asdict would copy each deeply


def anomaly_row(item: Anomaly, host: str) -> Row:
    return {**asdict(item), "host": host}


def host_of_key(ec_root: str, key: str, keys: Mapping[str, KeyValue], owners: Mapping[int, str],
                hosting: Mapping[str, str]) -> str:
    """The host a key is of: its segment in the ec layout, the host listing its container (`hosting`), or the
    owner of the lease it is on; "" when none is known."""
    parsed = parse_key(ec_root, key)
    if parsed is not None and parsed.folder in (AGENTS, HOSTS, ""):
        return unescape_segment(parsed.segment)
    if parsed is not None and parsed.folder in (CONTAINERS, LABELS):
        return hosting.get(parsed.container, "")
    kv = keys.get(key)
    return owners.get(kv.lease, "") if kv is not None else ""


def container_hosts(registry: Registry) -> dict[str, str]:
    """The host of each container: the one whose `P/containers/I/host` names it, else the one whose index does."""
    found = {cid: unescape_segment(segment) for segment, entries in registry.indexes.items()
             for cid in entries.values()}
    found.update({cid: host for host, ids in registry.hosted.items() for cid in ids})
    return found


def services_of(keys: Mapping[str, KeyValue], registry: Registry, owners: Mapping[int, str]) -> list[Row]:
    """Every service named under the backends root or by a traefik router or server, with its backends (group,
    container, address, host), its groups' ports, its traefik servers and the routers naming it."""
    found: dict[str, Row] = {}

    def service(name: str) -> Row:
        return found.setdefault(name, {"service": name, "backends": [], "ports": {}, "servers": [], "routes": []})

    for kv in keys.values():
        parts = split_key(registry.backends_root, kv.key)
        if parts is None:
            continue
        entry, group, leaf = service(unescape_segment(parts[0])), parts[1], parts[2]
        if leaf == PORT_LEAF:
            entry["ports"][group] = kv.value
        else:
            entry["backends"].append({"group": group, "container": leaf, "address": kv.value,
                                      "host": owners.get(kv.lease, "")})
    for key, parsed in registry.traefik_keys.items():
        add_traefik(service, parsed, registry, key, owners)
    return [found[name] for name in sorted(found)]


def add_traefik(service: Callable[[str], Row], parsed: TraefikKey, registry: Registry, key: str,
                owners: Mapping[int, str]) -> None:
    """A server's url (http) or address (tcp, udp) to its service; a router's service key to the service it
    names (`s` or `s@etcd`), with the router's rule."""
    kv = registry.traefik[key]
    if parsed.server is not None and parsed.rest[3:] in (("url",), ("address",)):
        service(parsed.name)["servers"].append({"proto": parsed.proto, "server": parsed.server, "at": kv.value,
                                                "host": owners.get(kv.lease, "")})
    elif parsed.kind == ROUTERS and parsed.rest == ("service",):
        rule = registry.traefik.get(key.rsplit("/", 1)[0] + "/rule")
        service(kv.value.split("@", 1)[0])["routes"].append({"proto": parsed.proto, "router": parsed.name,
                                                             "rule": rule.value if rule else ""})


def search_text(row: Row) -> str:
    """What a search matches in a row: every string in it, lower case (a host row's containers read by their
    fields: there are thousands of them at fleet size)."""
    if "items" in row:
        found = [value for value in row.values() if isinstance(value, str)]
        found += [text for item in row["items"] for text in (item["name"], item["id"])]
        return "\n".join(found).lower()
    found = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(row)
    return "\n".join(found).lower()


def page_of(snapshot: Snapshot, tab: str, search: str, page: int) -> dict[str, Any]:
    """One page of one tab's rows that contain `search` (any case), and the figures the page's header shows."""
    wanted = search.strip().lower()
    rows, texts = snapshot.rows[tab], snapshot.texts[tab]
    matched = [row for row, text in zip(rows, texts, strict=True) if wanted in text] if wanted else list(rows)
    pages = max(1, -(-len(matched) // PAGE_ROWS))
    page = min(max(page, 1), pages)
    hosts = snapshot.rows[HOSTS_TAB]
    return {"version": snapshot.version, "revision": snapshot.revision, "tab": tab, "search": search,
            "page": page, "pages": pages, "matched": len(matched),
            "rows": matched[(page - 1) * PAGE_ROWS:page * PAGE_ROWS],
            "counts": {name: len(found) for name, found in snapshot.rows.items()},
            "states": states_of(hosts)}


def states_of(hosts: tuple[Row, ...]) -> dict[str, int]:
    return dict(Counter(row["state"] for row in hosts))
