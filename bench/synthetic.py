"""The sync path of the real Writer fed with N synthetic containers (made from recorded inspect output)
against a real etcd: time to full registration and transactions used. Prints one JSON line.

    python -m bench.synthetic ETCD_URL [N]
"""

from gevent import monkey

monkey.patch_all()

import copy  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent.queue  # noqa: E402

from agent.adapters.etcd import Etcd  # noqa: E402
from agent.adapters.etcd_connection import Members  # noqa: E402
from agent.core.marker import RUNNING, Marker, marker_key  # noqa: E402
from agent.core.messages import Resync  # noqa: E402
from agent.daemon.inspector import Inspector, Silence  # noqa: E402
from agent.daemon.lease import HostLease  # noqa: E402
from agent.daemon.watches import follow_nothing  # noqa: E402
from agent.daemon.writer import Writer  # noqa: E402
from agent.layouts.ec import EcLayout  # noqa: E402
from agent.settings import Endpoint  # noqa: E402
from tests.unit.fixtures import inspect  # noqa: E402

ROOT, HOST = "/synthetic", "synthetic-host"


class SyntheticDocker:
    """Stands in for Docker's list and inspect, from memory: the benchmark measures the agent, not Docker."""

    def __init__(self, count: int) -> None:
        template = inspect("hostile_labels")
        self.containers = {}
        for n in range(count):
            data = copy.deepcopy(template)
            data["Id"] = f"{n:064x}"
            data["Name"] = f"/synthetic-{n}"
            self.containers[data["Id"]] = data

    def running_ids(self) -> list[str]:
        return list(self.containers)

    def inspect(self, cid: str) -> dict:
        return self.containers[cid]


class CountingEtcd(Etcd):
    transactions = 0

    def txn(self, ops, lease):
        CountingEtcd.transactions += 1
        return super().txn(ops, lease)


def main() -> None:
    url, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    parts = urlsplit(url)
    etcd = CountingEtcd(Members([Endpoint(parts.scheme, parts.hostname, parts.port)]), None, timeout=30)
    docker = SyntheticDocker(count)
    lease = HostLease(etcd, 120)
    lease.grant()
    key = marker_key(ROOT, HOST)
    inspector = Inspector(docker, lambda message: writer.handle(message), Silence(30))
    writer = Writer(gevent.queue.Queue(), etcd, inspector.submit, [EcLayout(ROOT, HOST)],
                    Marker(HOST, lease.id, RUNNING, "now"), key, lease, 0, follow_nothing)
    started = time.perf_counter()
    writer.handle_resync(Resync("synthetic"))
    inspector.drain()
    elapsed = time.perf_counter() - started
    keys = len(etcd.read(prefixes=[ROOT + "/"])[0])
    print(json.dumps({"containers": count, "seconds": elapsed, "transactions": CountingEtcd.transactions,
                      "keys": keys, "in_sync": writer.status()["in_sync"]}))
    etcd.lease_revoke(lease.id)


if __name__ == "__main__":
    main()
