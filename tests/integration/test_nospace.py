"""etcd out of space (issue 22): a small-quota etcd filled by someone else until its NOSPACE alarm is raised. The
agent says what it is, once, in one line that tells the operator what to do; it is not ready meanwhile; and
once an operator has made room and disarmed the alarm, this host's registry is exact at once, not at the next
periodic comparison."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.etcdclient import EtcdClient
from tests.support.expect import docker_picture, etcd_picture
from tests.support.servers import EtcdMember, free_port, start_etcd
from tests.support.waiting import wait_equal, wait_until

QUOTA = 2_000_000  # bytes: a few of the fill's values reach it
FILL = "/fill/"
RESYNC = 300  # no periodic comparison within the test: the repair must not wait for one


@pytest.fixture
def small_etcd(tmp_path: Path) -> Iterator[EtcdMember]:
    member = start_etcd(tmp_path, extra=("--quota-backend-bytes", str(QUOTA)))
    try:
        yield member
    finally:
        member.kill()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def post(url: str, path: str, payload: dict) -> dict:
    return requests.post(f"{url}/v3/{path}", json=payload, timeout=10).json()


def fill_until_the_alarm(url: str) -> int:
    """Someone else's big values until etcd refuses a put: how many went in."""
    for count in range(100):
        reply = post(url, "kv/put", {"key": b64(f"{FILL}{count}"), "value": b64(os.urandom(300_000))})
        if reply.get("code") == 8:  # RESOURCE_EXHAUSTED: database space exceeded
            return count
    raise AssertionError("etcd took 30 MB under a 2 MB quota: no alarm")


def make_room(url: str) -> None:
    """What the operator does: delete, compact, defragment, disarm."""
    prefix = FILL.encode()
    revision = int(post(url, "kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix[:-1] + b"0")})
                   ["header"]["revision"])
    post(url, "kv/compaction", {"revision": str(revision), "physical": True})
    post(url, "maintenance/defragment", {})
    for alarm in post(url, "maintenance/alarm", {"action": "GET"}).get("alarms", []):
        post(url, "maintenance/alarm", {"action": "DEACTIVATE", "memberID": alarm["memberID"], "alarm": "NOSPACE"})


def readiness(port: int) -> int:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
    except requests.RequestException:
        return 0


def test_etcd_out_of_space_is_said_once_and_repaired_at_once_when_it_takes_writes(agents, containers, docker_client,
                                                                                  small_etcd, root):
    host, etcd, port = "nospace-host", EtcdClient(small_etcd.url), free_port()
    containers.run(labels={"before": "full"})
    agent = agents.start(host, root, etcd_url=small_etcd.url, TTL="6", RESYNC=str(RESYNC),
                         HTTP_ADDR=f"127.0.0.1:{port}")
    agent.wait_running(etcd)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, host), what="initial sync")
    wait_until(lambda: readiness(port) == 200, what="ready")

    fill_until_the_alarm(small_etcd.url)
    late = containers.run(labels={"while": "full"})
    wait_until(lambda: readiness(port) == 503, timeout=10, what="/readyz 503 while etcd refuses writes")
    time.sleep(3)  # several retries while full: the line must still be said only once
    assert f"{root}/hosts/{host}/{late.name}" not in etcd.values(root + "/")

    while_full = agent.log().splitlines()
    make_room(small_etcd.url)  # a defragmentation holds etcd: a read then may fail, and be said
    disarmed = time.monotonic()
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, host), timeout=5,
               what="this host exact once etcd takes writes again")
    took = time.monotonic() - disarmed
    wait_until(lambda: readiness(port) == 200, timeout=5, what="ready again")
    print(f"exact {took * 1000:.0f} ms after the alarm was disarmed")
    assert took < 3, f"exact only {took:.1f}s after the disarm"
    log = agent.log().splitlines()
    said = [line for line in log if "NOSPACE" in line and (" ERROR " in line or " WARNING " in line)]
    assert len(said) == 1, "\n".join(said) or "\n".join(log[-40:])
    assert all(word in said[0] for word in ("out of space", "compact", "defrag", "alarm disarm")), said[0]
    twice = [line for line in while_full if "etcd out of step" in line]
    assert not twice, "the refused writes said twice over:\n" + "\n".join(twice)
    assert sum(" INFO " in line and "takes writes again" in line for line in log) == 1
