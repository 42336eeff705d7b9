"""Reads one host's keys from etcd, bounded by the host, never by the fleet (SPEC §6): the keys it names, its
host-scoped prefixes, and what those lead to (a former container's subtree, the keys its marker records with TTL
0, the shared groups its shared keys stand in). Never a layout root whole. The agent's full comparison reads its own
host so (agent/daemon/hostread.py); `status --host` reads any host so."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from agent.adapters.etcd import Etcd
from agent.core.kv import KeyValue
from agent.core.layout import Layout
from agent.core.marker import StoredMarker

MAX_ROUNDS = 4  # the ec layout needs three: host index, a former container's subtree, its label index keys


def read_host_keys(etcd: Etcd, layouts: Sequence[Layout], marker_key: str, known: Iterable[str],
                   wanted: Collection[str], container_ids: Collection[str]) -> tuple[list[KeyValue], int]:
    """Every key of this host's that etcd holds, and the revision they were read at. `known` are keys read
    elsewhere (those attached to the lease), `wanted` what the host wants now."""
    found: dict[str, KeyValue] = {}
    asked_keys: set[str] = set()
    asked_prefixes: set[str] = set()
    keys, prefixes = _leads(found, layouts, marker_key, wanted, container_ids)
    keys |= {*wanted, *known, marker_key}
    prefixes |= {prefix for layout in layouts for prefix in layout.host_prefixes()}
    revision = 0
    for _ in range(MAX_ROUNDS):
        prefixes -= asked_prefixes
        covered = asked_prefixes | prefixes
        keys = {key for key in keys - asked_keys if not under(key, covered)}
        if not keys and not prefixes:
            break
        kvs, revision = etcd.read(keys, prefixes, revision)
        found.update((kv.key, kv) for kv in kvs)
        asked_keys |= keys
        asked_prefixes |= prefixes
        keys, prefixes = _leads(found, layouts, marker_key, wanted, container_ids)
    return list(found.values()), revision


def under(key: str, prefixes: Collection[str]) -> bool:
    """Whether one of `prefixes` (each ends with "/") holds `key`: a lookup per "/" of the key, not a scan of every
    prefix per key (a host of 10,000 containers asks as many prefixes: that scan was quadratic)."""
    end = key.find("/")
    while end >= 0:
        if key[:end + 1] in prefixes:
            return True
        end = key.find("/", end + 1)
    return False


def _leads(found: dict[str, KeyValue], layouts: Sequence[Layout], marker_key: str, wanted: Collection[str],
           container_ids: Collection[str]) -> tuple[set[str], set[str]]:
    """Further keys and prefixes of this host's that the keys found so far point to."""
    values = {key: kv.value for key, kv in found.items()}
    keys: set[str] = set(recorded_keys(found.get(marker_key)))
    prefixes: set[str] = set()
    for layout in layouts:
        more_keys, more_prefixes = layout.more_to_read(values, wanted, container_ids)
        keys |= more_keys
        prefixes |= more_prefixes
    return keys, prefixes


def recorded_keys(marker: KeyValue | None) -> tuple[str, ...]:
    """The keys a TTL-0 agent recorded in its marker (SPEC §4 keys no host index finds again)."""
    return StoredMarker.decode(marker.value).keys if marker else ()
