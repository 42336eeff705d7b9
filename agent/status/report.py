"""What the registry holds, host by host, and what looks wrong in it: pure, from keys read at one revision.

`P` is the ec root, `B` the backends root, `T` the traefik root (no leading `/`), `H` an (escaped) host segment,
`I` a container id.

Hosts are every `H` with a marker `P/agents/H` and every `H` seen in `P/hosts/H/…` or `P/H/…` (`H` not one of
the reserved words). A host's lease is the one its marker names (for a marker that is not ours, the one the
marker key is on); a host whose marker is ours and names lease 0 is a TTL-0 host.

Anomalies, each reported once per key:

- `unleased`: a key on no lease that is not a key of a TTL-0 host: it never expires, and no agent will ever
  remove it. A TTL-0 host's keys are its marker, everything under `P/hosts/H/` and `P/H/`, the keys under
  `P/containers/I/` and `P/labels/*/I` of every container its host index names (or whose `P/containers/I/host`
  names it), the backends keys its marker records (`keys`), and the `port` key of each group those lie in.
  The rule is the same whether or not any host uses a lease: a key on no lease belonging to no host is one.
- `dangling-index`: `P/hosts/H/<name>`, `P/H/<name>` or `P/labels/<label>/I` naming a container with no key
  under `P/containers/I/`.
- `lease-gone`: a marker naming a lease that etcd no longer has.
- `no-marker`: a host with keys under `P/hosts/H/` or `P/H/` but no marker.
- `bad-marker`: a marker whose value is not an agent marker (JSON with state, lease, started, version; a lease
  id etcd can have, below 2^63).
- `marker-lease`: a marker that names a lease other than the one it is attached to (a TTL-0 marker names 0).
- `shared-lease`: markers of two or more hosts on one lease: one host's keys would vanish with another's.
- `orphan-lease`: keys under `T/` on a lease that no marker is on or names: they belong to no host. Reported once
  per lease, at its first key.
- `foreign-server`: a server key `T/<proto>/services/<s>/loadbalancer/servers/<id12>/…` on the lease of hosts
  whose ec keys name no container with that short id. Checked only where every host on that lease has ec keys
  (`P/hosts/H/…` or `P/containers/I/host`); a host that writes no ec layout cannot be checked, nor a TTL-0 host.
- `no-server`: a router's `T/<proto>/routers/<r>/service` naming a service (of this provider: `s` or `s@etcd`)
  that has no server under `T/<proto>/services/<s>/loadbalancer/servers/`, nor any key other than load balancer
  ones (a weighted, mirroring or failover service has no servers of its own).
- `slash-root`: keys under `/T/`, which Traefik never reads (its rootKey has no leading `/`). Reported once, at
  the prefix `/T/`; not looked for when `/T` nests with the ec or backends root.

A host's row shows the lease its marker is attached to, as read, whatever the marker says (a marker on no lease:
the one it names), and the address mode its marker declares (`address`: `published` or `container`, SPEC §8).

Routes of a host are its backends keys `B/<service>/<n>/<container>` (not the shared `port` keys): those on
its lease as read (the same revision as everything else), or, for a TTL-0 host, those its marker records.
Its traefik servers (`<proto>`, `<s>`, `<id12>` of server keys) and its routers, middlewares and services (those
with a key other than a server's) are counted the same way from the keys under `T/` (for a TTL-0 host: those its
marker records that are on no lease; a definition another host's lease holds is that host's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agent.core.escape import unescape_segment
from agent.core.kv import KeyValue, LeaseInfo
from agent.layouts.ec import AGENTS, CONTAINERS, parse_key
from agent.status.registry import (
    BACKEND,
    BAD_MARKER,
    DANGLING,
    LEASE_GONE,
    MARKER_LEASE,
    MIDDLEWARES,
    MISSING_MARKER,
    NO_MARKER,
    ROUTERS,
    SERVICES,
    SHARED_LEASE,
    UNLEASED,
    Anomaly,
    MarkerFields,
    Registry,
    marker_fields,
)
from agent.status.traefik import traefik_anomalies, traefik_of

# what `--summary` does not read: the backends and traefik roots, nor any lease's TTL (HostRow fields, COLUMNS)
UNREAD = ("seconds_left", "backends", "servers", "routers", "middlewares", "services")
UNREAD_COLUMNS = ("TTL LEFT", "BACKENDS", "SERVERS", "ROUTERS")
COLUMNS = ("HOST", "STATE", "VERSION", "STARTED", "LEASE", "TTL LEFT", "CONTAINERS", "BACKENDS", "SERVERS", "ROUTERS",
           "ADDRESS")


@dataclass(frozen=True)
class HostRow:
    host: str  # unescaped
    state: str  # running, stopped, "no marker" or "unreadable"
    version: str  # "" when unknown
    started: str  # "" when unknown
    lease: int  # 0: none
    seconds_left: int | None  # -1: the lease is gone; None: no lease
    containers: int  # entries of P/hosts/H/
    backends: int  # backends keys B/<service>/<n>/<container> of this host (discover's backends, not routes)
    servers: int = 0  # traefik servers T/<proto>/services/<s>/loadbalancer/servers/<id12>/ of this host
    routers: int = 0  # traefik routers T/<proto>/routers/<name>/ with a key on this host's lease
    middlewares: int = 0  # likewise, T/<proto>/middlewares/<name>/
    services: int = 0  # likewise, T/<proto>/services/<name>/ with a key other than a server's
    address: str = ""  # what its backends and traefik servers are: published or container (SPEC §8); "" unknown


@dataclass(frozen=True)
class Report:
    revision: int
    hosts: tuple[HostRow, ...]
    anomalies: tuple[Anomaly, ...]
    scanned: bool = True  # False: `--summary`: no anomaly scan, nothing of UNREAD
    containers: tuple[Any, ...] | None = None  # `--host`: its containers (agent/status/views.py ContainerRow)

    def to_json(self) -> dict[str, Any]:
        hosts = [asdict(row) for row in self.hosts]
        if not self.scanned:
            hosts = [{name: value for name, value in row.items() if name not in UNREAD} for row in hosts]
        document = {"revision": self.revision, "hosts": hosts, "anomalies": [asdict(item) for item in self.anomalies]}
        if self.containers is not None:
            document["containers"] = [asdict(item) for item in self.containers]
        return document if self.scanned else {**document, "scanned": False}


def leases_to_ask(ec_root: str, kvs: Iterable[KeyValue]) -> set[int]:
    """The leases of every marker among `kvs` (see `marker_leases`)."""
    markers = [kv for kv in kvs if (parsed := parse_key(ec_root, kv.key)) is not None and parsed.folder == AGENTS]
    return marker_leases(markers)


def marker_leases(markers: Iterable[KeyValue]) -> set[int]:
    """The leases of every marker, the one it is on and the one it names (what the report needs to know
    about): ask etcd for each. A marker naming no lease id etcd can have is a bad marker, and names none."""
    return {lease for kv in markers for lease in (kv.lease, marker_fields(kv).lease)} - {0}


def build_report(ec_root: str, backends_root: str, traefik_root: str, kvs: Iterable[KeyValue],
                 leases: Mapping[int, LeaseInfo], revision: int) -> Report:
    """The report of the keys `kvs` read under the roots (the ec, backends and traefik roots, and `/T`: see
    `slash_root`) at `revision`; `leases` holds what etcd said of each marker's lease (a lease missing from it
    counts as gone)."""
    return report_of(Registry.of(ec_root, backends_root, traefik_root, kvs), leases, revision)


def report_of(registry: Registry, leases: Mapping[int, LeaseInfo], revision: int, scan: bool = True) -> Report:
    """The report of a registry read at `revision`; without `scan` (`status --summary`) the rows alone."""
    fields = {segment: marker_fields(kv) for segment, kv in registry.markers.items()}
    rows = tuple(sorted((host_row(registry, segment, fields.get(segment), leases) for segment in registry.segments()),
                        key=lambda row: row.host))
    if not scan:
        return Report(revision, rows, (), scanned=False)
    anomalies = [*unleased(registry, fields), *dangling(registry), *marker_anomalies(registry, fields, leases),
                 *traefik_anomalies(registry, fields)]
    return Report(revision, rows, tuple(sorted(set(anomalies), key=lambda item: (item.kind, item.key, item.detail))))


def host_row(registry: Registry, segment: str, fields: MarkerFields | None,
             leases: Mapping[int, LeaseInfo]) -> HostRow:
    name, containers = unescape_segment(segment), registry.listed.get(segment, 0)
    if fields is None:
        return HostRow(name, NO_MARKER, "", "", 0, None, containers, 0)
    left = None if fields.shown == 0 else seconds_left(leases.get(fields.shown))
    traefik = traefik_of(registry, fields)
    definitions = {kind: len({key.definition for key in traefik if key.kind == kind and key.server is None})
                   for kind in (ROUTERS, MIDDLEWARES, SERVICES)}
    servers = {(key.proto, key.name, key.server) for key in traefik if key.server is not None}
    return HostRow(name, fields.state, fields.version, fields.started, fields.shown, left, containers,
                   backends_of(registry, fields), len(servers), definitions[ROUTERS], definitions[MIDDLEWARES],
                   definitions[SERVICES], fields.address)


def seconds_left(info: LeaseInfo | None) -> int:
    return info.remaining if info is not None and info.alive else -1


def backends_of(registry: Registry, fields: MarkerFields) -> int:
    if fields.shown:
        return registry.backends.get(fields.shown, 0)
    return sum(registry.unleased.get(key) == BACKEND for key in set(fields.keys))


def unleased(registry: Registry, fields: Mapping[str, MarkerFields]) -> list[Anomaly]:
    owned = set(registry.misrooted)  # a slash-root anomaly of their own
    by_owner = registry.unleased_by_owner()
    for segment, declared in fields.items():
        if declared.readable and declared.lease == declared.on == 0:
            owned |= registry.ttl0_keys(segment, declared, by_owner)
    return [Anomaly(UNLEASED, key, "on no lease and no TTL-0 host's key: it never expires")
            for key in registry.unleased if key not in owned]


def dangling(registry: Registry) -> list[Anomaly]:
    containers = f"{registry.ec_root}/{CONTAINERS}/"
    found = []
    named = [*registry.label_indexes.items(), *(item for keys in registry.indexes.values() for item in keys.items())]
    for key, cid in named:
        if cid not in registry.containers:
            found.append(Anomaly(DANGLING, key, f"names container {cid}, but {containers}{cid}/ holds no key"))
    return found


def marker_anomalies(registry: Registry, fields: Mapping[str, MarkerFields],
                     leases: Mapping[int, LeaseInfo]) -> list[Anomaly]:
    found = []
    for segment, declared in fields.items():
        key, name = registry.marker_key(segment), unescape_segment(segment)
        if not declared.readable:
            found.append(Anomaly(BAD_MARKER, key, f"host {name}: not an agent marker (JSON with state, lease, "
                                                  "started, version)"))
        if declared.lease and seconds_left(leases.get(declared.lease)) < 0:
            found.append(Anomaly(LEASE_GONE, key, f"host {name}: its lease {declared.lease:x} is gone"))
        if declared.readable and declared.lease != declared.on:
            found.append(Anomaly(MARKER_LEASE, key, f"host {name}: its marker names lease {declared.lease:x} but is "
                                                    f"on {f'lease {declared.on:x}' if declared.on else 'no lease'}"))
    found.extend(shared_leases(registry, fields))
    for segment in set(registry.host_keys) - set(fields):
        count = registry.host_keys[segment]
        found.append(Anomaly(MISSING_MARKER, registry.marker_key(segment),
                             f"host {unescape_segment(segment)} has {count} index key{'s' * (count != 1)} "
                             "but no marker"))
    return found


def shared_leases(registry: Registry, fields: Mapping[str, MarkerFields]) -> list[Anomaly]:
    """Markers of ours of several hosts attached to one lease (an unreadable one is a bad marker already)."""
    by_lease: dict[int, list[str]] = {}
    for segment, declared in sorted(fields.items()):
        if declared.readable and declared.on:
            by_lease.setdefault(declared.on, []).append(segment)
    return [Anomaly(SHARED_LEASE, registry.marker_key(segment), f"host {unescape_segment(segment)}: its marker's lease "
                    f"{lease:x} holds the marker of {', '.join(unescape_segment(o) for o in segments if o != segment)}"
                    " too")
            for lease, segments in by_lease.items() if len(segments) > 1 for segment in segments]


# -- output ------------------------------------------------------------------------------------------


def printable(text: str) -> str:
    """`text` with every non-printable character escaped (`\\n`, `\\x1b`, `\\u2028`…): a hostile key or host
    name cannot start a line of its own or move the cursor."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def row_cells(row: HostRow) -> tuple[str, ...]:
    if row.seconds_left is None:
        left = "-"
    else:
        left = "gone" if row.seconds_left < 0 else f"{row.seconds_left}s"
    return (printable(row.host) or '""', row.state, printable(row.version) or "-", printable(row.started) or "-",
            f"{row.lease:x}" if row.lease else "-", left, str(row.containers), str(row.backends), str(row.servers),
            str(row.routers), printable(row.address) or "-")


def render_text(report: Report) -> str:
    """The table of hosts, then "no anomalies" or one line per anomaly (`--summary`: neither, and no columns of
    what it did not read)."""
    shown = [index for index, name in enumerate(COLUMNS) if report.scanned or name not in UNREAD_COLUMNS]
    cells = (COLUMNS, *(row_cells(row) for row in report.hosts))
    lines = table_lines([[line[index] for index in shown] for line in cells])
    if report.containers is not None:
        lines += ["", *table_lines([("CONTAINER", "ID"), *((printable(item.name) or '""', printable(item.id))
                                                           for item in report.containers)])]
    if not report.scanned:
        return "\n".join([*lines, "anomalies not looked for (--summary)"])
    count = len(report.anomalies)
    lines.append(f"{count} anomal{'ies' if count != 1 else 'y'}:" if count else "no anomalies")
    lines.extend(f"  {item.kind}  {printable(item.key)}  {printable(item.detail)}" for item in report.anomalies)
    return "\n".join(lines)


def table_lines(table: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells, each column padded to its widest cell."""
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]


def render_json(report: Report | Any) -> str:
    """The report as JSON, with every character that is not printable escaped as `\\uXXXX` (C1 controls, DEL,
    bidi overrides, line separators), as the text table escapes them: JSON leaves all but C0 controls raw."""
    text = json.dumps(report.to_json(), ensure_ascii=False, indent=1)
    return "".join(char if char.isprintable() or char == "\n" else json.dumps(char)[1:-1] for char in text)
