"""`FakeEtcd`: an in-memory etcd with the public methods of `agent.adapters.etcd.Etcd` that the Writer, HostLease and
read_host_keys use, with the same signatures, return types and exceptions.

Like etcd: one revision per request that changes something (a put always does; a delete only of a key that
exists), none otherwise; a put on a lease that does not exist raises `LeaseNotFound`; a transaction of more
than 128 operations, or naming a key twice, is refused; an expired or revoked lease deletes its keys in one
revision; `lease_info` reports the remaining TTL truncated to whole seconds (and, like the adapter, -1 once
less than a second is left).
Unlike etcd: no history. `read` ignores `revision` and answers from the current state (tests write nothing
between the rounds of one read); `pages` keeps a copy of the store at each revision it read at, for the later
pages and ranges; time passes only through `advance`.

Test controls: `now` / `clock` / `advance` / `expire` (lease time), `put` / `put_many` / `delete` (a foreign
client), `available` / `fail_next` (outages), `nospace` (the NOSPACE alarm: the adapter's writes that put are
refused with RESOURCE_EXHAUSTED, as etcd refuses them), `keys_read`, `calls`, `txns` (counters), `events` /
`events_since` (the watch feed: every change in order, as the grpc-gateway's watch would report it), `watch`
(that feed as a stream, for greenlets), `compacted` (the revision compacted up to: a watch from before it ends).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

import gevent

from agent.adapters.etcd_errors import RESOURCE_EXHAUSTED, EtcdRequestError, EtcdUnavailable, LeaseNotFound
from agent.core.kv import KeyValue, LeaseInfo, WatchEvent, WatchReply
from agent.core.plan import MAX_TXN_OPS, Delete, Op, Put
from agent.settings import Endpoint


@dataclass
class _Lease:
    granted: int
    deadline: float


class FakeEtcd:
    def __init__(self) -> None:
        self.kvs: dict[str, KeyValue] = {}
        self.leases: dict[int, _Lease] = {}
        self.rev = 1  # an empty etcd is at revision 1
        self.now = 1000.0
        self.events: list[WatchEvent] = []
        self.txns: list[tuple[Op, ...]] = []  # every request that made a revision, as its operations
        self.calls: Counter[str] = Counter()
        self.keys_read = 0  # as the adapter counts them: keys returned by `read` and by `lease_info(keys=True)`
        self.available = True
        self.nospace = False
        self.compacted = 0
        self._failures: list[tuple[str | None, Exception]] = []
        self._snapshots: dict[int, dict[str, KeyValue]] = {}  # the store at each revision `pages` read at
        self._ids = itertools.count(0x694D7A0000000001)

    # -- test controls ---------------------------------------------------------------------------------
    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let time pass; leases not kept alive meanwhile expire, as etcd would expire them."""
        self.now += seconds
        for lease in [lease for lease, info in self.leases.items() if info.deadline <= self.now]:
            self.expire(lease)

    def expire(self, lease: int) -> None:
        """The lease ends now (its TTL ran out): its keys are deleted in one revision."""
        del self.leases[lease]
        self._commit([Delete(key) for key, kv in sorted(self.kvs.items()) if kv.lease == lease], 0)

    def put(self, key: str, value: str, lease: int = 0) -> int:
        return self._commit([Put(key, value)], lease)

    def put_many(self, keys: Mapping[str, str], lease: int = 0) -> int:
        """Many keys in one revision, as a foreign client's transaction (of any size)."""
        return self._commit([Put(key, value) for key, value in keys.items()], lease)

    def delete(self, key: str) -> int:
        return self._commit([Delete(key)], 0)

    def fail_next(self, n: int = 1, exc: Exception | None = None, call: str | None = None) -> None:
        """The next `n` calls of the adapter's methods (or of the one named `call`) raise `exc` (default:
        EtcdUnavailable)."""
        self._failures += [(call, exc or EtcdUnavailable("fake etcd: no endpoint answered"))] * n

    def value(self, key: str) -> str | None:
        kv = self.kvs.get(key)
        return kv.value if kv else None

    def under(self, prefix: str) -> dict[str, str]:
        return {key: kv.value for key, kv in self.kvs.items() if key.startswith(prefix)}

    def events_since(self, revision: int, where: str | Iterable[str]) -> list[WatchEvent]:
        """What a watch from start revision `revision` on `where` (a key, a prefix ending in "/", or several)
        reports: every event at or after that revision, in order."""
        names = (where,) if isinstance(where, str) else tuple(where)
        return [event for event in self.events if event.mod_revision >= revision and _matches(event.key, names)]

    # -- the adapter's methods -------------------------------------------------------------------------
    def read(self, keys: Collection[str] = (), prefixes: Collection[str] = (),
             revision: int = 0) -> tuple[list[KeyValue], int]:
        self._call("read")
        found = [self.kvs[key] for key in sorted(keys) if key in self.kvs]
        ordered = sorted(self.kvs) if prefixes else []
        for prefix in sorted(prefixes):
            found += [self.kvs[key] for key in ordered if key.startswith(prefix)]
        self.keys_read += len(found)
        return found, (revision or self.rev) if (keys or prefixes) else revision

    def pages(self, prefix: str, revision: int = 0, keys_only: bool = False,
              limit: int = 10_000) -> Iterator[tuple[list[KeyValue], int]]:
        """As etcd pages a range at one revision: up to `limit` keys a page in byte order, each page continuing
        after the last key of the one before, until no more are left; `keys_only` drops the values (not the
        lease). Each page is one call (`calls["pages"]`; `fail_next(call="pages")` fails one). The revision is
        `revision` or (0) the current one; the store as it was at a revision some `pages` read at is kept, so
        writes between pages, or between the ranges of one read, are not seen, as etcd would not show them."""
        self._call("pages")
        revision = revision or self.rev
        if revision == self.rev:
            self._snapshots.setdefault(revision, dict(self.kvs))
        if revision not in self._snapshots:
            raise EtcdRequestError("fake etcd: no copy of that revision (only of those `pages` read at)")
        under = sorted((key.encode(), kv) for key, kv in self._snapshots[revision].items() if key.startswith(prefix))
        start = 0
        while True:
            page = [kv for _, kv in under[start:start + limit]]
            self.keys_read += len(page)
            yield [replace(kv, value="") for kv in page] if keys_only else page, revision
            start += limit
            if start >= len(under):
                return
            self._call("pages")

    def watch(self, key: str, start_revision: int) -> Iterator[WatchReply]:
        """The watch feed of `key` (a prefix when it ends with "/") from `start_revision`, each change as it is
        committed (seen at the watcher's next turn, every 5 ms); a start revision at or below `compacted` ends it
        as etcd does, with the compact revision."""
        self._call("watch")
        revision = start_revision
        yield WatchReply(self.rev, created=True)
        while True:
            if revision <= self.compacted:
                yield WatchReply(self.rev, compact_revision=self.compacted + 1, canceled=True)
                return
            events = self.events_since(revision, key)
            if events:
                revision = events[-1].mod_revision + 1
                yield WatchReply(self.rev, tuple(events))
            gevent.sleep(0.005)

    def key_pages(self, prefix: str, revision: int = 0, limit: int = 10_000) -> Iterator[tuple[list[str], int]]:
        """The names of the keys of `pages` (keys only), each page one call to it."""
        for page, at in self.pages(prefix, revision, keys_only=True, limit=limit):
            yield [kv.key for kv in page], at

    def lease_infos(self, leases: Iterable[int]) -> dict[int, LeaseInfo]:
        return {lease: self.lease_info(lease) for lease in leases}

    def txn(self, ops: Iterable[Op], lease: int) -> int:
        self._call("txn")
        ops = list(ops)
        if len(ops) > MAX_TXN_OPS:
            raise EtcdRequestError("etcd kv/txn: etcdserver: too many operations in txn request")
        if self.nospace and any(isinstance(op, Put) for op in ops):
            raise EtcdRequestError("etcd kv/txn: etcdserver: mvcc: database space exceeded", RESOURCE_EXHAUSTED)
        return self._commit(ops, lease)

    def out_of_space(self) -> bool:
        self._call("out_of_space")
        return self.nospace

    def delete_prefix(self, prefix: str) -> int:
        self._call("delete_prefix")
        doomed = [key for key in sorted(self.kvs) if key.startswith(prefix)]
        self._commit([Delete(key) for key in doomed], 0)
        return len(doomed)

    def lease_grant(self, ttl: int) -> int:
        self._call("lease_grant")
        lease = next(self._ids)
        self.leases[lease] = _Lease(ttl, self.now + ttl)
        return lease

    def lease_refresh(self, lease: int) -> int:
        self._call("lease_refresh")
        info = self.leases.get(lease)
        if info is None:
            return -1
        info.deadline = self.now + info.granted
        return info.granted

    def lease_info(self, lease: int, keys: bool = False) -> LeaseInfo:
        self._call("lease_info")
        info = self.leases.get(lease)
        if info is None:
            return LeaseInfo(0, -1)
        names = tuple(sorted(key for key, kv in self.kvs.items() if kv.lease == lease)) if keys else ()
        self.keys_read += len(names)
        return LeaseInfo(info.granted, int(info.deadline - self.now) or -1, names)

    def lease_revoke(self, lease: int) -> None:
        self._call("lease_revoke")
        if lease in self.leases:  # the adapter logs and carries on when the lease is already gone
            self.expire(lease)

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return ()

    def discover_members(self) -> tuple[Endpoint, ...]:
        self._call("discover_members")
        return ()

    # -- inside ----------------------------------------------------------------------------------------
    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if not self.available:
            raise EtcdUnavailable("fake etcd: no endpoint answered")
        for index, (call, exc) in enumerate(self._failures):
            if call in (None, name):
                del self._failures[index]
                raise exc

    def _commit(self, ops: list[Op], lease: int) -> int:
        if len({op.key for op in ops}) < len(ops):
            raise EtcdRequestError("etcd kv/txn: etcdserver: duplicate key given in txn request")
        if lease and lease not in self.leases and any(isinstance(op, Put) for op in ops):
            raise LeaseNotFound("etcdserver: requested lease not found")
        if not any(isinstance(op, Put) or op.key in self.kvs for op in ops):
            return self.rev
        self.rev += 1
        for op in ops:
            if isinstance(op, Put):  # as etcd: create_revision is kept by an update, set anew after a delete
                created = self.kvs[op.key].create_revision if op.key in self.kvs else self.rev
                self.kvs[op.key] = KeyValue(op.key, op.value, lease, self.rev, created)
                self.events.append(WatchEvent(op.key, op.value, lease, self.rev, False, created))
            elif self.kvs.pop(op.key, None) is not None:
                self.events.append(WatchEvent(op.key, "", 0, self.rev, True))
        self.txns.append(tuple(ops))
        return self.rev


def _matches(key: str, names: tuple[str, ...]) -> bool:
    return any(key.startswith(name) if name.endswith("/") else key == name for name in names)
