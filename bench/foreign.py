"""Other hosts in the registry, written by the bench itself: their ec keys (SPEC §3, rendered by
tests/support/expect.py, not by agent code), each host on a long lease of its own, and churn on them.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.etcdkit import Registry
from bench.fakedocker import new_id, synthetic_inspect, templates
from tests.support.background import Background
from tests.support.expect import expected_ec

FOREIGN_TTL = 3600  # long enough for the whole run: the bench sends no keepalive
CONTAINERS_PER_HOST = 30
LOAD_WORKERS = 8


@dataclass
class ForeignHost:
    name: str
    lease: int
    containers: list[tuple[str, str, int]]  # (id, name, number): the keys are made again when needed

    def container_keys(self, root: str, index: int) -> dict[str, str]:
        cid, name, number = self.containers[index]
        pattern = templates()[number % len(templates())]
        return expected_ec(synthetic_inspect(pattern, cid, name, number), root, self.name)

    def marker(self, root: str) -> dict[str, str]:
        state = {"host": self.name, "lease": self.lease, "state": "running", "started": "bench",
                 "version": "bench"}
        return {f"{root}/agents/{self.name}": json.dumps(state)}


def make_host(registry: Registry, root: str, number: int, per_host: int) -> ForeignHost:
    """One other host: a lease, its containers' keys and its marker, in transactions of up to 128 puts."""
    name = f"other-{number:04d}"
    host = ForeignHost(name, registry.lease_grant(FOREIGN_TTL),
                       [(new_id(), f"{name}-c{n}", number * per_host + n) for n in range(per_host)])
    keys: dict[str, str] = {}
    for index in range(per_host):
        keys.update(host.container_keys(root, index))
    keys.update(host.marker(root))
    registry.put_all(keys, host.lease)
    return host


def load_hosts(url: str, root: str, first: int, count: int, per_host: int = CONTAINERS_PER_HOST) -> list[ForeignHost]:
    """Hosts `first` .. `first + count - 1`, written by a few threads (one etcd session each)."""
    local = threading.local()

    def one(number: int) -> ForeignHost:
        if not hasattr(local, "registry"):
            local.registry = Registry(url)
        return make_host(local.registry, root, number, per_host)

    with ThreadPoolExecutor(max_workers=LOAD_WORKERS) as pool:
        return list(pool.map(one, range(first, first + count)))


class Churn(Background):
    """`rate` changes per second on other hosts' containers, each one transaction: a container's keys deleted,
    and at the next tick put back (on its host's lease). A thread of the bench, started and stopped around a
    measurement window."""

    def __init__(self, url: str, root: str, hosts: list[ForeignHost], rate: float, seed: int = 7) -> None:
        super().__init__("churn", join_timeout=30)
        self._registry = Registry(url)
        self._root = root
        self._hosts = hosts
        self._rate = rate
        self._random = random.Random(seed)
        self.changes = 0
        self.seconds = 0.0

    @property
    def achieved(self) -> float:
        return self.changes / self.seconds if self.seconds else 0.0

    def loop(self) -> None:
        started = time.monotonic()
        removed: tuple[ForeignHost, dict[str, str]] | None = None
        try:
            while not self.stopping:
                removed = self._change(removed)
                self.changes += 1
                pause = started + self.changes / self._rate - time.monotonic()
                if pause > 0:
                    self.pause(pause)
            if removed:  # leave every other host whole
                self._registry.put_all(removed[1], removed[0].lease)
        finally:
            self.seconds = time.monotonic() - started

    def _change(self, removed: tuple[ForeignHost, dict[str, str]] | None) -> tuple[ForeignHost, dict[str, str]] | None:
        if removed:
            self._registry.put_all(removed[1], removed[0].lease)
            return None
        host = self._random.choice(self._hosts)
        keys = host.container_keys(self._root, self._random.randrange(len(host.containers)))
        self._registry.delete_all(sorted(keys, key=lambda key: "/containers/" in key))  # index keys first
        return host, keys
