"""Other hosts' keys in a fake etcd: what one agent must never touch nor read (SPEC §6)."""

from agent.core.marker import RUNNING, Marker, marker_key
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout
from tests.fakes.docker import container
from tests.fakes.etcd import FakeEtcd

P, B = "/registry", "/backends"


def other_hosts(etcd: FakeEtcd, count: int) -> dict[str, str]:
    """`count` other hosts (TTL 0), each with containers named and labelled like the fixtures (so in the same
    label index and backends groups: `web`, `web-tls`) and its marker, written in one revision."""
    keys: dict[str, str] = {}
    labelled, web = container("hostile_labels"), container("three_ports")
    for n in range(count):
        host = f"other{n}"
        labelled["Id"] = web["Id"] = f"{n + 1:012x}" + "0" * 52
        keys.update(EcLayout(P, host).container_keys(labelled))
        keys[marker_key(P, host)] = Marker(host, 0, RUNNING, "x").encode()
        keys.update(BackendsLayout(B, f"10.9.{n // 250}.{n % 250}").container_keys(web))
    etcd.put_many(keys)
    return keys
