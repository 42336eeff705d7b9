"""etcd for the fleet benchmark: a small grpc-gateway client of the bench's own (paged reads, transactions,
leases), etcd's own traffic counters from `/metrics`, a 3-member cluster on loopback, and the exactness check.

Independent of the agent's code: what the agent wrote is read back the way any consumer would.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.support.servers import EtcdMember, free_port

T = TypeVar("T")
MAX_OPS = 128  # etcd's default --max-txn-ops
PAGE = 5000
METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", re.M)


def b64(raw: str | bytes) -> str:
    return base64.b64encode(raw.encode() if isinstance(raw, str) else raw).decode()


def text(encoded: str | None) -> str:
    return base64.b64decode(encoded or "").decode("utf-8", errors="replace")


def prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return b64(bytes(raw))


@dataclass(frozen=True)
class Item:
    value: str
    lease: int
    create_revision: int
    mod_revision: int


def item(kv: dict[str, Any]) -> Item:
    return Item(text(kv.get("value")), int(kv.get("lease") or 0), int(kv.get("create_revision") or 0),
                int(kv.get("mod_revision") or 0))


def chunks(seq: Sequence[T], size: int = MAX_OPS) -> Iterable[Sequence[T]]:
    return (seq[start:start + size] for start in range(0, len(seq), size))


class Registry:
    """The bench's own etcd client on the grpc-gateway (one session; use one per thread)."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = self.session.post(f"{self.url}/v3/{path}", json=payload, timeout=self.timeout)
        reply.raise_for_status()
        return reply.json()

    def items(self, prefix: str, keys_only: bool = False) -> dict[str, Item]:
        """Every key under `prefix`, read in pages at one revision."""
        found: dict[str, Item] = {}
        start, revision = b64(prefix), 0
        while True:
            reply = self.post("kv/range", {"key": start, "range_end": prefix_end(prefix), "limit": PAGE,
                                           "revision": str(revision), "keys_only": keys_only})
            revision = revision or int(reply["header"]["revision"])
            kvs = reply.get("kvs") or []
            found.update((text(kv["key"]), item(kv)) for kv in kvs)
            if not reply.get("more") or not kvs:
                return found
            start = b64(base64.b64decode(kvs[-1]["key"]) + b"\0")

    def count(self, prefix: str) -> int:
        reply = self.post("kv/range", {"key": b64(prefix), "range_end": prefix_end(prefix), "count_only": True})
        return int(reply.get("count") or 0)

    def revision(self) -> int:
        return int(self.post("kv/range", {"key": b64("\0")})["header"]["revision"])

    def get_many(self, keys: Sequence[str]) -> dict[str, Item]:
        """The keys that exist among `keys`, read with transactions of range requests."""
        found: dict[str, Item] = {}
        for part in chunks(keys):
            reply = self.post("kv/txn", {"success": [{"request_range": {"key": b64(key)}} for key in part]})
            for response in reply.get("responses") or []:
                for kv in (response.get("response_range") or {}).get("kvs") or []:
                    found[text(kv["key"])] = item(kv)
        return found

    def put_all(self, pairs: Mapping[str, str], lease: int) -> None:
        ops = [{"request_put": {"key": b64(key), "value": b64(value), "lease": str(lease)}}
               for key, value in pairs.items()]
        for part in chunks(ops):
            self.post("kv/txn", {"success": list(part)})

    def delete_all(self, keys: Iterable[str]) -> None:
        ops = [{"request_delete_range": {"key": b64(key)}} for key in keys]
        for part in chunks(ops):
            self.post("kv/txn", {"success": list(part)})

    def lease_grant(self, ttl: int) -> int:
        return int(self.post("lease/grant", {"TTL": ttl})["ID"])

    def lease_gone(self, lease: int) -> bool:
        """True once the lease is revoked with its keys (an expired lease reports TTL -1 before that)."""
        reply = self.post("lease/timetolive", {"ID": str(lease), "keys": True})
        return int(reply.get("TTL", -1)) <= 0 and not reply.get("keys")


# -- etcd's own counters -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counters:
    """etcd's traffic counters, summed over members. `sent_bytes` is etcd_network_client_grpc_sent_bytes_total:
    the size of every gRPC response message, grpc-gateway requests included (they are gRPC inside etcd)."""

    sent_bytes: float = 0
    received_bytes: float = 0
    keepalives: float = 0  # LeaseKeepAlive messages received (each gateway keepalive is one)
    renewals: float = 0  # etcd_debugging_lease_renewed_total (counted where the lease is renewed: the leader)

    def __add__(self, other: Counters) -> Counters:
        return Counters(self.sent_bytes + other.sent_bytes, self.received_bytes + other.received_bytes,
                        self.keepalives + other.keepalives, self.renewals + other.renewals)

    def __sub__(self, other: Counters) -> Counters:
        return Counters(self.sent_bytes - other.sent_bytes, self.received_bytes - other.received_bytes,
                        self.keepalives - other.keepalives, self.renewals - other.renewals)


def parse_counters(metrics: str) -> Counters:
    values = {"sent": 0.0, "received": 0.0, "keepalives": 0.0, "renewals": 0.0}
    for name, labels, value in METRIC_LINE.findall(metrics):
        if name == "etcd_network_client_grpc_sent_bytes_total":
            values["sent"] += float(value)
        elif name == "etcd_network_client_grpc_received_bytes_total":
            values["received"] += float(value)
        elif name == "grpc_server_msg_received_total" and 'grpc_method="LeaseKeepAlive"' in labels:
            values["keepalives"] += float(value)
        elif name == "etcd_debugging_lease_renewed_total":
            values["renewals"] += float(value)
    return Counters(values["sent"], values["received"], values["keepalives"], values["renewals"])


def scrape(urls: Iterable[str]) -> Counters:
    """The counters of every member, summed (`/metrics` is plain HTTP, not counted by them)."""
    total = Counters()
    for url in urls:
        total += parse_counters(requests.get(f"{url}/metrics", timeout=10).text)
    return total


def verify_counter(url: str) -> None:
    """etcd must count grpc-gateway replies in its sent-bytes counter (3.4 and 3.5 do), else every bytes/min
    figure of this benchmark would be wrong: read a 20 kB value through the gateway and see it counted."""
    registry, key, size = Registry(url), "/fleet-bench-probe", 20_000
    registry.put_all({key: "x" * size}, 0)
    before = scrape([url])
    registry.items(key)
    counted = (scrape([url]) - before).sent_bytes
    registry.delete_all([key])
    if counted < size:
        raise RuntimeError(f"etcd at {url} counted {counted:.0f} bytes for a {size}-byte grpc-gateway read in "
                           "etcd_network_client_grpc_sent_bytes_total: this etcd does not count gateway traffic there")


# -- a cluster of three --------------------------------------------------------------------------------------
class Cluster:
    """Three etcd members on loopback (like the tests' etcd_cluster), which can all die and come back."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.members = [EtcdMember(f"m{n}", free_port(), free_port(), workdir / f"etcd-m{n}") for n in range(size)]
        self.spec = ",".join(f"{member.name}={member.peer_url}" for member in self.members)

    @property
    def urls(self) -> list[str]:
        return [member.url for member in self.members]

    def endpoints(self, first: int) -> str:
        """EC_REGISTRATOR_ETCD_HOSTS for one agent: every member, starting with member `first`."""
        hosts = [url.removeprefix("http://") for url in self.urls]
        first %= len(hosts)
        return ",".join(hosts[first:] + hosts[:first])

    def start(self, timeout: float = 60) -> float:
        """Start every member (again, on the same data dirs); the moment all of them answer /health."""
        for member in self.members:
            member.start(self.spec)
        for member in self.members:
            member.wait_ready(timeout=timeout)
        return time.monotonic()

    def kill(self) -> None:
        for member in self.members:
            member.kill()

    def pids(self) -> list[int]:
        return [member.process.pid for member in self.members if member.process and member.process.poll() is None]


# -- waiting and exactness -----------------------------------------------------------------------------------
def bounded(probe: Callable[[], T], timeout: float, what: str, interval: float = 0.02,
            describe: Callable[[], str] = lambda: "") -> T:
    """probe() until it is truthy; TimeoutError naming `what` (and describe()) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        began = time.monotonic()
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = describe()
            raise TimeoutError(f"fleet benchmark gave up after {timeout:.0f}s waiting for {what}"
                               + (f": {detail}" if detail else ""))
        time.sleep(max(interval, time.monotonic() - began))  # an expensive probe polls at most half the time


def host_segment(host: str) -> str:
    return host.replace("%", "%25").replace("/", "%2F")


def index_of(registry: Registry, root: str, hosts: Sequence[str]) -> dict[str, dict[str, Item]]:
    """host -> {name: item} of `root/hosts/<host>/`: per host for a few hosts, one read of `hosts/` for many."""
    if len(hosts) <= 10:
        return {host: {key.rsplit("/", 1)[1]: kv for key, kv in registry.items(f"{root}/hosts/{host_segment(host)}/")
                       .items()} for host in hosts}
    index: dict[str, dict[str, Item]] = {}
    for key, kv in registry.items(f"{root}/hosts/").items():
        host, _, name = key[len(root) + len("/hosts/"):].partition("/")
        index.setdefault(host, {})[name] = kv
    return index


Picture = Mapping[str, Mapping[str, str]]  # host -> {container name: id}


def problems(registry: Registry, root: str, expected: Picture, newer_than: int = 0) -> list[str]:
    """What keeps the registry from being exact (empty when it is): for every host of `expected` (host ->
    {name: id}), the names under `hosts/<host>/` are its running containers, pointing at their ids, and every
    `containers/<id>/id` exists; with `newer_than`, each of those keys was created after that revision."""
    wanted = sum(len(names) for names in expected.values())
    if len(expected) > 10 and (have := registry.count(f"{root}/hosts/")) < wanted:
        return [f"{have} of {wanted} index keys under {root}/hosts/"]  # a cheap look first
    found: list[str] = []
    index = index_of(registry, root, list(expected))
    for host, names in expected.items():
        stored = index.get(host_segment(host), {})
        if {name: kv.value for name, kv in stored.items()} != dict(names):
            found.append(f"{host}: {len(stored)} of {len(names)} index keys right")
        found.extend(f"{host}/{name} not re-created" for name, kv in stored.items() if kv.create_revision <= newer_than)
    id_keys = [f"{root}/containers/{cid}/id" for names in expected.values() for cid in names.values()]
    present = registry.get_many(id_keys)
    found.extend(f"{key} missing" for key in id_keys if key not in present)
    found.extend(f"{key} not re-created" for key, kv in present.items() if kv.create_revision <= newer_than)
    return found


def wait_exact(registry: Registry, root: str, expected: Picture, timeout: float, what: str,
               newer_than: int = 0, alive: Callable[[], None] = lambda: None) -> float:
    """Poll until exact; the monotonic time at the end of the first exact check. `alive` may raise."""
    last: list[str] = []

    def exact() -> bool:
        alive()
        last[:] = problems(registry, root, expected, newer_than)
        return not last

    bounded(exact, timeout, what, interval=0.01, describe=lambda: f"{len(last)} problems, e.g. {last[:3]}")
    return time.monotonic()


def wait_exact_stable(registry: Registry, root: str, expected: Picture, timeout: float, what: str,
                      hold: float) -> float:
    """The first moment from which the registry stayed exact for `hold` seconds (checked all along)."""
    deadline = time.monotonic() + timeout
    while True:
        since = wait_exact(registry, root, expected, max(1.0, deadline - time.monotonic()), what)
        while time.monotonic() - since < hold and not problems(registry, root, expected):
            time.sleep(0.2)
        if time.monotonic() - since >= hold:
            return since
        if time.monotonic() > deadline:
            raise TimeoutError(f"fleet benchmark: {what} did not stay exact for {hold:.0f}s")
