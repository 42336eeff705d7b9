"""The narrow views of `status`: one host (`--host`) and one service (`--service`), from the keys read for them.
Pure."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from agent.core.escape import escape_segment, unescape_segment
from agent.core.kv import KeyValue
from agent.layouts.ec import HOSTS
from agent.status.registry import Registry, marker_fields
from agent.status.report import Report, printable, table_lines


@dataclass(frozen=True, order=True)
class ContainerRow:
    name: str  # as the host index names it (unescaped)
    id: str


def host_view(report: Report, registry: Registry, host: str, own: Collection[str]) -> Report:
    """`report` narrowed to one host: its row, its containers (its index `P/hosts/H/`), and the anomalies of its
    own keys (`own`: not those read beside them, a shared group's other keys, which are other hosts')."""
    return replace(report, hosts=tuple(row for row in report.hosts if row.host == host),
                   anomalies=tuple(item for item in report.anomalies if item.key in own),
                   containers=containers_of(registry, escape_segment(host)))


def containers_of(registry: Registry, segment: str) -> tuple[ContainerRow, ...]:
    """The containers a host's index `P/hosts/H/` names, by name."""
    prefix = f"{registry.ec_root}/{HOSTS}/{segment}/"
    named = sorted((unescape_segment(key[len(prefix):]), cid)  # tuples: sorted in C, not by dataclass methods
                   for key, cid in (registry.indexes.get(segment) or {}).items() if key.startswith(prefix))
    return tuple(ContainerRow(name, cid) for name, cid in named)


def own_keys(kvs: Iterable[KeyValue], lease: int, ec_root: str, recorded: Collection[str]) -> set[str]:
    """A host's keys among those read for it: on its lease, under the ec root (all read there is the host's:
    its prefixes, its containers' subtrees, their label index keys), or in `recorded`: those its marker records
    (TTL 0), and its marker key (a `no-marker` anomaly is at that key)."""
    return {kv.key for kv in kvs if (lease and kv.lease == lease) or kv.key.startswith(ec_root + "/")} | set(recorded)


@dataclass(frozen=True)
class Entry:
    key: str
    host: str  # whose lease it is on ("" none, "?" a lease no marker is on)
    value: str


@dataclass(frozen=True)
class ServiceReport:
    revision: int
    service: str
    backends: tuple[Entry, ...]  # B/<service>/…
    traefik: tuple[Entry, ...]  # the service's servers and definition, and the routers naming it

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "service": self.service,
                "backends": [asdict(entry) for entry in self.backends],
                "traefik": [asdict(entry) for entry in self.traefik]}


def service_report(service: str, markers: Iterable[KeyValue], kvs: Iterable[KeyValue], revision: int,
                   backends_root: str) -> ServiceReport:
    """Every key read for one service (`kvs`: its backends group and traefik keys), each with the host whose lease
    holds it, told by the markers."""
    hosts: dict[int, str] = {}
    for kv in markers:
        hosts.setdefault(kv.lease or marker_fields(kv).lease, unescape_segment(kv.key.rsplit("/", 1)[-1]))
    entries = [Entry(kv.key, hosts.get(kv.lease, "?") if kv.lease else "", kv.value) for kv in kvs]
    backends = tuple(entry for entry in entries if entry.key.startswith(backends_root + "/"))
    return ServiceReport(revision, service, backends, tuple(entry for entry in entries if entry not in backends))


def routers_of(service: str, kvs: Iterable[KeyValue]) -> set[str]:
    """The routers (`…/routers/<r>/`) whose `service` key names `service` (of this provider: bare or `@etcd`)."""
    return {kv.key.rsplit("/", 1)[0] + "/" for kv in kvs
            if kv.key.lower().endswith("/service") and kv.value in (service, service + "@etcd")}


def render_service(report: ServiceReport) -> str:
    """One line per key: KEY, HOST, VALUE (every name escaped), backends first; or a line saying there is none."""
    entries = (*report.backends, *report.traefik)
    if not entries:
        return f"no keys of service {printable(report.service)} (under the backends and traefik roots)"
    return "\n".join(table_lines([("KEY", "HOST", "VALUE"), *((printable(entry.key), printable(entry.host) or "-",
                                                             printable(entry.value)) for entry in entries)]))
