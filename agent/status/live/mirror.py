"""The keys under the roots the web view follows, kept true by the watch: what was read at one revision, then
every event after it, deletes included. Pure.

Nine in ten keys of a registry are a container's `P/containers/I/<field>`, and most of the rest the host indexes
`P/hosts/H/<name>` and `P/H/<name>`. Of both the model needs only what `Registry` sums up (which containers have
keys, the host each names; each host's keys, listed containers and index; those on no lease): they are kept as
those sums (`Containers`, `HostKeys`), updated key by key, so that a new snapshot never walks them again."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.core.kv import KeyValue, WatchEvent
from agent.layouts.ec import CONTAINERS, HOSTS, EcKey, parse_key
from agent.status.registry import Registry

HOST_FIELD = "host"


@dataclass
class Containers:
    """What the keys under `P/containers/` hold for the model: every such key (its container id), the keys
    each container has, the host each names (`…/host`), and the keys on no lease."""

    keys: dict[str, str] = field(default_factory=dict)  # key -> I
    counts: dict[str, int] = field(default_factory=dict)  # I -> its keys
    hosts: dict[str, str] = field(default_factory=dict)  # I -> the value of P/containers/I/host
    unleased: dict[str, str] = field(default_factory=dict)  # key on no lease -> I

    def put(self, key: str, cid: str, rest: str, kv: KeyValue) -> None:
        if key not in self.keys:
            cid = sys.intern(cid)  # one string a container, not one a key
            self.keys[key] = cid
            self.counts[cid] = self.counts.get(cid, 0) + 1
        if kv.lease:
            self.unleased.pop(key, None)
        else:
            self.unleased[key] = cid
        if rest == HOST_FIELD:
            self.hosts[cid] = kv.value

    def delete(self, key: str, rest: str) -> None:
        cid = self.keys.pop(key, None)
        if cid is None:
            return
        self.counts[cid] -= 1
        if not self.counts[cid]:
            del self.counts[cid]
        self.unleased.pop(key, None)
        if rest == HOST_FIELD:
            self.hosts.pop(cid, None)


@dataclass
class HostKeys:
    """What the keys under `P/hosts/H/` and `P/H/` hold for the model: what each key is, each host's count of
    keys and of entries `P/hosts/H/<name>`, its index entries (both folders: key -> I), and the keys on no lease
    (key -> H)."""

    keys: dict[str, EcKey] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    listed: Counter[str] = field(default_factory=Counter)
    indexes: dict[str, dict[str, str]] = field(default_factory=dict)
    unleased: dict[str, str] = field(default_factory=dict)

    def put(self, kv: KeyValue, ec_key: EcKey) -> None:
        segment = ec_key.segment
        if kv.key not in self.keys:
            self.keys[kv.key] = ec_key
            self.counts[segment] += 1
            self.listed[segment] += ec_key.index_entry and ec_key.folder == HOSTS
        if ec_key.index_entry:
            self.indexes.setdefault(segment, {})[kv.key] = kv.value
        if kv.lease:
            self.unleased.pop(kv.key, None)
        else:
            self.unleased[kv.key] = segment

    def delete(self, key: str) -> None:
        ec_key = self.keys.pop(key, None)
        if ec_key is None:
            return
        segment = ec_key.segment
        self.counts[segment] -= 1
        self.listed[segment] -= ec_key.index_entry and ec_key.folder == HOSTS
        for counter in (self.counts, self.listed):
            if not counter[segment]:
                del counter[segment]
        if ec_key.index_entry:
            entries = self.indexes[segment]
            del entries[key]
            if not entries:
                del self.indexes[segment]
        self.unleased.pop(key, None)


class Mirror:
    def __init__(self, ec_root: str) -> None:
        self._prefix = f"{ec_root}/{CONTAINERS}/"
        self._root = ec_root
        self._keys: dict[str, KeyValue] = {}
        self.containers = Containers()
        self.host_keys = HostKeys()
        self.revision = 0

    def reset(self) -> None:
        """Forget every key: a full read follows (the start, or after the watch fell behind compaction)."""
        self._keys, self.containers, self.host_keys, self.revision = {}, Containers(), HostKeys(), 0

    def add(self, kvs: Iterable[KeyValue]) -> None:
        """Keys read (a page of the full read: the reader sets `revision` once it is whole)."""
        for kv in kvs:
            self._put(kv)

    def apply(self, events: Iterable[WatchEvent]) -> None:
        for event in events:
            if event.deleted:
                self._delete(event.key)
            else:
                self._put(KeyValue(event.key, event.value, event.lease, event.mod_revision, event.create_revision))
            self.revision = max(self.revision, event.mod_revision)

    def _put(self, kv: KeyValue) -> None:
        cid, rest = self._container_field(kv.key)
        if rest:
            self.containers.put(kv.key, cid, rest, kv)
        elif (ec_key := self._host_key(kv.key)) is not None:
            self.host_keys.put(kv, ec_key)
        else:
            self._keys[kv.key] = kv

    def _delete(self, key: str) -> None:
        cid, rest = self._container_field(key)
        if rest:
            self.containers.delete(key, rest)
        elif key in self.host_keys.keys:
            self.host_keys.delete(key)
        else:
            self._keys.pop(key, None)

    def _host_key(self, key: str) -> EcKey | None:
        """What a key under `P/hosts/H/` or `P/H/` is; None for any other key."""
        ec_key = parse_key(self._root, key)
        return ec_key if ec_key is not None and ec_key.folder in (HOSTS, "") else None

    def _container_field(self, key: str) -> tuple[str, str]:
        """(I, <field…>) of a key `P/containers/I/<field…>`; ("", "") for any other key."""
        if not key.startswith(self._prefix):
            return "", ""
        cid, _, rest = key[len(self._prefix):].partition("/")
        return (cid, rest) if rest else ("", "")

    def registry(self, backends_root: str, traefik_root: str) -> Registry:
        """The `Registry` of every key held: those kept whole added one by one, the summed ones as their sums."""
        registry = Registry.of(self._root, backends_root, traefik_root, self._keys.values())
        bulk, hosts = self.containers, self.host_keys
        registry.add_containers(bulk.counts, bulk.hosts, bulk.unleased, len(bulk.keys))
        registry.add_host_keys(hosts.counts, hosts.listed, hosts.indexes, hosts.unleased, len(hosts.keys))
        return registry

    @property
    def by_key(self) -> Mapping[str, KeyValue]:
        """Every key but those summed up in `containers` and `host_keys`."""
        return self._keys

    def __len__(self) -> int:
        return len(self._keys) + len(self.containers.keys) + len(self.host_keys.keys)
