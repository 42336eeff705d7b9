"""The keys `status` read, sorted by what they are (`Registry`), and what a marker declares: the model the
report (agent/status/report.py) and its traefik checks (agent/status/traefik.py) are made from. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.core.escape import unescape_segment
from agent.core.kv import KeyValue
from agent.core.marker import StoredMarker, segment_marker_key
from agent.layouts.backends import PORT_LEAF, split_key
from agent.layouts.ec import AGENTS, CONTAINERS, HOSTS, LABELS, EcKey, parse_key
from agent.layouts.traefik import SERVERS
from agent.settings import nested

NO_MARKER, UNREADABLE = "no marker", "unreadable"
UNLEASED, DANGLING, LEASE_GONE, MISSING_MARKER, BAD_MARKER, MARKER_LEASE, SHARED_LEASE = (
    "unleased", "dangling-index", "lease-gone", "no-marker", "bad-marker", "marker-lease", "shared-lease")
ORPHAN_LEASE, FOREIGN_SERVER, NO_SERVER, SLASH_ROOT = "orphan-lease", "foreign-server", "no-server", "slash-root"
BACKEND = "backend"  # where an unleased backends key is (Registry.unleased)
PROTOCOLS, ROUTERS, SERVICES, MIDDLEWARES = ("http", "tcp", "udp"), "routers", "services", "middlewares"


@dataclass(frozen=True)
class Anomaly:
    kind: str
    key: str
    detail: str


@dataclass(frozen=True)
class MarkerFields:
    """What a marker declares; `readable` is False when its value is not an agent marker. `lease` is the lease
    it names (when unreadable: the one it is on), `on` the lease its key is attached to."""

    readable: bool
    lease: int
    on: int
    state: str = UNREADABLE
    started: str = ""
    version: str = ""
    keys: tuple[str, ...] = ()
    address: str = ""  # the agent's EC_REGISTRATOR_ADDRESS; "" when its marker does not say

    @property
    def shown(self) -> int:
        """The lease of the host's row: the one the marker is on, else (a marker on no lease) the one it names."""
        return self.on or self.lease


def marker_fields(kv: KeyValue) -> MarkerFields:
    stored = StoredMarker.decode(kv.value)
    if stored.state is None or stored.lease is None:
        return MarkerFields(False, kv.lease, kv.lease)
    return MarkerFields(True, stored.lease, kv.lease, stored.state, stored.started, stored.version, stored.keys,
                        stored.address)


@dataclass(frozen=True)
class TraefikKey:
    """A key `T/<proto>/<kind>/<name>/<field…>` (proto and kind in lower case, as Traefik matches them)."""

    proto: str
    kind: str
    name: str
    rest: tuple[str, ...]

    @property
    def server(self) -> str | None:
        """The server's name (the agent's: a short container id) of a key `…/loadbalancer/servers/<id12>/…`."""
        if self.kind == SERVICES and len(self.rest) >= 4 and tuple(part.lower() for part in self.rest[:2]) == SERVERS:
            return self.rest[2]
        return None

    @property
    def definition(self) -> tuple[str, str, str]:
        return self.proto, self.kind, self.name


def parse_traefik_key(root: str, key: str) -> TraefikKey | None:
    parts = key[len(root) + 1:].split("/") if key.startswith(root + "/") else []
    if len(parts) < 4 or parts[0].lower() not in PROTOCOLS or parts[1].lower() not in (ROUTERS, SERVICES, MIDDLEWARES):
        return None
    return TraefikKey(parts[0].lower(), parts[1].lower(), parts[2], tuple(parts[3:]))


def slash_root(ec_root: str, backends_root: str, traefik_root: str) -> str | None:
    """`/T`, the root a leading-slash mistake writes to (Traefik never reads it); None when it is, or nests with,
    the ec or backends root: its keys are theirs."""
    wrong = "/" + traefik_root
    return None if nested(wrong, ec_root) or nested(wrong, backends_root) else wrong


@dataclass
class Registry:
    """The keys read, sorted by what they are, as they come (`add`, page by page): what the report needs of each,
    not the keys themselves, so its size follows the hosts and the anomalies, not the registry (of the keys under
    `P/containers/I/`, the bulk, it keeps the ids, and the keys only of those on no lease)."""

    ec_root: str
    backends_root: str
    traefik_root: str
    markers: dict[str, KeyValue] = field(default_factory=dict)  # by host segment
    host_keys: dict[str, int] = field(default_factory=dict)  # how many under P/hosts/H/ and P/H/, by segment
    indexes: dict[str, dict[str, str]] = field(default_factory=dict)  # P/hosts/H/<name>, P/H/<name>: key -> I
    listed: dict[str, int] = field(default_factory=dict)  # P/hosts/H/<name> entries by segment
    label_indexes: dict[str, str] = field(default_factory=dict)  # P/labels/<label>/I: key -> I
    containers: set[str] = field(default_factory=set)  # every I with a key under P/containers/I/
    hosted: dict[str, set[str]] = field(default_factory=dict)  # the I whose P/containers/I/host names it, by host
    backends: dict[int, int] = field(default_factory=dict)  # B/<service>/<n>/<container> keys, by lease
    ports: dict[str, str] = field(default_factory=dict)  # B/<service>/<n>/port, by group B/<service>/<n>
    traefik: dict[str, KeyValue] = field(default_factory=dict)  # every key under T/
    traefik_keys: dict[str, TraefikKey] = field(default_factory=dict)  # those of a router, service or middleware
    traefik_leases: dict[int, list[TraefikKey]] = field(default_factory=dict)  # those, by the lease they are on
    unleased: dict[str, str] = field(default_factory=dict)  # every key on no lease: key -> where (_where)
    slash_root: str | None = None  # /T, when it is apart from the other roots
    misrooted: list[str] = field(default_factory=list)  # keys under /T/
    read: int = 0  # keys added

    def __post_init__(self) -> None:
        self._containers = f"{self.ec_root}/{CONTAINERS}/"

    @classmethod
    def empty(cls, ec_root: str, backends_root: str, traefik_root: str) -> Registry:
        return cls(ec_root, backends_root, traefik_root, slash_root=slash_root(ec_root, backends_root, traefik_root))

    @classmethod
    def of(cls, ec_root: str, backends_root: str, traefik_root: str, kvs: Iterable[KeyValue]) -> Registry:
        registry = cls.empty(ec_root, backends_root, traefik_root)
        registry.add_all(kvs)
        return registry

    def add_all(self, kvs: Iterable[KeyValue]) -> None:
        for kv in kvs:
            self.add(kv)

    def add(self, kv: KeyValue) -> None:
        """One key read (with its value where the report needs it: markers, host index entries,
        `P/containers/I/host`, traefik routers' `service`)."""
        self.read += 1
        if kv.lease == 0:
            self.unleased[kv.key] = ""
        if kv.key.startswith(self._containers):  # most keys of a registry: no need to parse them whole
            cid, _, rest = kv.key[len(self._containers):].partition("/")
            if rest:
                self._add_container(kv, cid, rest)
                return
        ec_key = parse_key(self.ec_root, kv.key)
        if ec_key is not None:
            self._add_ec(kv, ec_key)
        elif (parts := split_key(self.backends_root, kv.key)) is not None:
            self._add_backends(kv, parts[2])
        elif kv.key.startswith(self.traefik_root + "/"):
            self.traefik[kv.key] = kv
            if (parsed := parse_traefik_key(self.traefik_root, kv.key)) is not None:
                self.traefik_keys[kv.key] = parsed
                self.traefik_leases.setdefault(kv.lease, []).append(parsed)
        elif self.slash_root is not None and kv.key.startswith(self.slash_root + "/"):
            self.misrooted.append(kv.key)

    def add_containers(self, ids: Iterable[str], hosts: Mapping[str, str], unleased: Mapping[str, str],
                       count: int) -> None:
        """`count` keys under `P/containers/I/`, as a caller summed them up (agent/status/live/mirror.py): the
        containers with keys, the host each names, the keys on no lease (key -> I); as `add` of each would."""
        self.read += count
        self.containers.update(ids)
        for cid, host in hosts.items():
            self.hosted.setdefault(host, set()).add(cid)
        for key, cid in unleased.items():
            self.unleased[key] = CONTAINERS + "/" + cid

    def add_host_keys(self, counts: Mapping[str, int], listed: Mapping[str, int],
                      indexes: Mapping[str, Mapping[str, str]], unleased: Mapping[str, str], count: int) -> None:
        """`count` keys under `P/hosts/H/` and `P/H/`, as a caller summed them up (agent/status/live/mirror.py):
        each host's keys and listed entries, its index entries (key -> I), the keys on no lease (key -> H); as
        `add` of each would."""
        self.read += count
        for segment, number in counts.items():
            self.host_keys[segment] = self.host_keys.get(segment, 0) + number
        for segment, number in listed.items():
            self.listed[segment] = self.listed.get(segment, 0) + number
        for segment, entries in indexes.items():
            self.indexes.setdefault(segment, {}).update(entries)
        self.unleased.update(unleased)

    def _add_ec(self, kv: KeyValue, ec_key: EcKey) -> None:
        if ec_key.folder == AGENTS:
            self.markers[ec_key.segment] = kv
        elif ec_key.folder in (HOSTS, ""):
            self._count_host_key(ec_key)
            self._mark(kv, ec_key.segment)
            if ec_key.index_entry:
                self.indexes.setdefault(ec_key.segment, {})[kv.key] = kv.value
        elif ec_key.folder == CONTAINERS:  # `add` takes them all but a short `P/containers/I` (none of ours)
            self._add_container(kv, ec_key.container, "/".join(ec_key.rest))
        elif ec_key.folder == LABELS:
            self.label_indexes[kv.key] = ec_key.container

    def _count_host_key(self, ec_key: EcKey, count: int = 1) -> None:
        """`count` keys under `P/hosts/H/` or `P/H/`, all what `ec_key` is: counted for the host, and listed when
        they are entries `P/hosts/H/<name>` of its index."""
        self.host_keys[ec_key.segment] = self.host_keys.get(ec_key.segment, 0) + count
        if ec_key.index_entry:
            self.listed[ec_key.segment] = self.listed.get(ec_key.segment, 0) + count * (ec_key.folder == HOSTS)

    def count_all(self, keys: Iterable[str]) -> None:
        """Keys read by name alone (no value, no lease: `status --summary`'s host indexes), counted for their host:
        `host_keys` and `listed`, not `indexes` nor `unleased`. What a key is does not depend on its last segment,
        so the keys of one folder (`P/hosts/H/<name>`: a host's index) are parsed as one."""
        for folder, count in Counter(key.rpartition("/")[0] for key in keys).items():
            self.read += count
            ec_key = parse_key(self.ec_root, folder + "/")
            if ec_key is not None and ec_key.folder in (HOSTS, ""):
                self._count_host_key(ec_key, count)

    def _add_container(self, kv: KeyValue, cid: str, rest: str) -> None:
        """A key `P/containers/I/<rest>`."""
        self.containers.add(cid)
        self._mark(kv, CONTAINERS + "/" + cid)
        if rest == "host":
            self.hosted.setdefault(kv.value, set()).add(cid)

    def _mark(self, kv: KeyValue, where: str) -> None:
        """Note whose key an unleased key is (a host's segment, or containers/I): what `ttl0_keys` looks up."""
        if kv.key in self.unleased:
            self.unleased[kv.key] = where

    def _add_backends(self, kv: KeyValue, leaf: str) -> None:
        if leaf == PORT_LEAF:
            self.ports[kv.key.rsplit("/", 1)[0]] = kv.key
        else:
            self.backends[kv.lease] = self.backends.get(kv.lease, 0) + 1
            if kv.lease == 0:
                self.unleased[kv.key] = BACKEND

    def marker_key(self, segment: str) -> str:
        return segment_marker_key(self.ec_root, segment)

    def segments(self) -> set[str]:
        return set(self.markers) | set(self.host_keys)

    def host_containers(self, segment: str) -> set[str]:
        """The containers a host's index names, and those whose `P/containers/I/host` names the host."""
        named = set((self.indexes.get(segment) or {}).values())
        return named | self.hosted.get(unescape_segment(segment), set())

    def unleased_by_owner(self) -> dict[str, list[str]]:
        """The unleased keys by whose they are (`_mark`): a host's segment, `containers/I`, or "" (no one's)."""
        found: dict[str, list[str]] = {}
        for key, where in self.unleased.items():
            found.setdefault(where, []).append(key)
        return found

    def ttl0_keys(self, segment: str, fields: MarkerFields, by_owner: Mapping[str, list[str]]) -> set[str]:
        """Every key of a TTL-0 host that is on no lease (see agent/status/report.py); `by_owner` is
        `unleased_by_owner()`."""
        ids = self.host_containers(segment)
        keys = {self.marker_key(segment), *by_owner.get(segment, ())}
        for cid in ids:
            keys.update(by_owner.get(CONTAINERS + "/" + cid, ()))
        keys.update(key for key, cid in self.label_indexes.items() if cid in ids)
        recorded = {key for key in fields.keys if key.startswith(self.backends_root + "/")}
        groups = {key.rsplit("/", 1)[0] for key in recorded}
        traefik = {key for key in fields.keys if key.startswith(self.traefik_root + "/")}
        return keys | recorded | traefik | {self.ports[group] for group in groups if group in self.ports}
