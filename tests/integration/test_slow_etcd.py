"""Slow etcd (issue 22): the agent talks to a real etcd through a loopback proxy that holds every chunk 200 ms
each way (tests/support/latency.py), so one round trip costs 400 ms. The etcd advertises the proxy's URL, so the
agent cannot fail over around it. What the tests read, they read from etcd directly, without the delay.

- The lease never lapses: keepalives that take 400 ms keep a TTL-3 lease alive (timeout 0.5 s) across four
  TTLs; no key of the host is deleted meanwhile, not even for a moment (a watch on etcd would see it), and no
  keepalive fails.
- Start -> visible costs a trip more at most, not one per key: every key of a container is put in one transaction
  (one etcd revision, one kv/txn request through the proxy), visible as soon as it reaches etcd (one way of the
  delay: about +200 ms); the bound asserted is 4 round trips.
- Nothing that is only slow is logged as an error, nor as a warning about etcd.

How they fail (tried on scratch copies): a writer of one transaction per key, one after another (13 revisions and
+5.0 s, 12.5 round trips, per start), or all in flight at once (13 revisions, +0.18 s), fails the second test; a
heartbeat that keeps the lease alive once a TTL lets it lapse, and the first test fails.
"""

from __future__ import annotations

import re
import statistics
import time

import pytest

from tests.support.etcdclient import EtcdClient
from tests.support.expect import docker_picture, etcd_picture, expected_ec
from tests.support.latency import etcd_behind_proxy
from tests.support.scrape import scrape
from tests.support.servers import free_port
from tests.support.waiting import wait_equal, wait_until
from tests.support.watcher import EventLog

DELAY = 0.2  # each way
TRIP = 2 * DELAY
TTL = 3  # the agent's keepalive timeout is then max(0.5, min(3.0, TTL / 6)) = 0.5 s, above the 0.4 s round trip
SAMPLES = 3  # containers started one by one at each delay
ETCD_WORDS = re.compile(r"etcd|keepalive|lease|watch")  # a WARNING about these is one about etcd being slow


@pytest.fixture
def slow(tmp_path):
    """(the etcd member, the proxy in front of it), the proxy's delay 0 until a test sets it."""
    with etcd_behind_proxy(tmp_path) as pair:
        yield pair


def errors_and_warnings(log: str) -> tuple[list[str], list[str]]:
    lines = log.splitlines()
    return [line for line in lines if " ERROR " in line or "Traceback" in line], \
        [line for line in lines if " WARNING " in line]


def test_the_lease_outlives_slow_round_trips(agents, containers, docker_client, slow, root):
    member, proxy = slow
    etcd = EtcdClient(member.url)  # direct, without the delay
    containers.run(labels={"slow": "lease"})
    containers.run(labels={"slow": "lease-2"})
    proxy.delay = DELAY
    port = free_port()
    started = time.monotonic()
    agent = agents.start("slow-lease-host", root, etcd_url=proxy.url, TTL=str(TTL), HTTP_ADDR=f"127.0.0.1:{port}")
    marker = agent.wait_running(etcd, timeout=30)
    expected = docker_picture(docker_client, root, "slow-lease-host")
    wait_equal(lambda: etcd_picture(etcd, root), expected, timeout=30, what="the first sync through the delay")
    print(f"agent start -> in sync through {DELAY * 1000:.0f} ms each way: {time.monotonic() - started:.2f} s")
    assert f"etcd endpoints: {proxy.url}\n" in agent.log(), "the agent must talk through the proxy only"

    lease = marker["lease"]
    keepalives = proxy.request_count("POST /v3/lease/keepalive")
    lowest = TTL
    with EventLog(member.url, root + "/") as events:
        window = time.monotonic() + 4 * TTL
        while time.monotonic() < window:
            remaining, _ = etcd.lease_keys(lease)
            assert remaining > 0, f"lease {lease:x} lapsed:\n{agent.log()[-3000:]}"
            lowest = min(lowest, remaining)
            time.sleep(0.1)
        events.flush(etcd)
    assert events.deletes() == [], "a key of the host vanished while etcd was only slow"
    assert etcd_picture(etcd, root) == expected
    assert agent.marker(etcd)["lease"] == lease, "the agent granted a new lease: the old one lapsed"
    sent = proxy.request_count("POST /v3/lease/keepalive") - keepalives
    # the heartbeat waits TTL/3 after each reply: one keepalive every TTL/3 + a round trip, 8 in 12 s
    assert sent >= 4, f"{sent} keepalives through the proxy in {4 * TTL} s"

    figures = scrape(port)
    count = figures["service_registrator_lease_keepalive_seconds_count"]
    mean = figures["service_registrator_lease_keepalive_seconds_sum"] / count
    failures = figures.get("service_registrator_lease_keepalive_failures_total", 0)
    errors, warnings = errors_and_warnings(agent.log())
    print(f"lowest remaining TTL {lowest} s of {TTL}; {sent} keepalives in {4 * TTL} s; keepalive mean "
          f"{mean * 1000:.0f} ms over {count:.0f}, {failures:.0f} failed; warnings: {warnings}")
    assert mean >= TRIP * 0.9, "the keepalives did not go through the delay"
    assert failures == 0, f"keepalives timed out, though etcd was only slow: {warnings}"
    assert errors == []
    assert not [line for line in warnings if ETCD_WORDS.search(line)]


def start_to_visible(containers, docker_client, etcd, proxy, root, host, label: str) -> list[dict]:
    """Containers started one by one: Docker's `start` event -> every key of the container put in etcd (a watch
    on etcd itself), and the etcd revisions and kv/txn requests through the proxy each start cost."""
    samples = []
    since = time.time() - 1
    with EventLog(etcd.url, root + "/") as events:
        for n in range(SAMPLES):
            revision, txns = etcd.revision(), proxy.request_count("POST /v3/kv/txn")
            box = containers.run(name=f"slow-{label}-{n}-{root[2:8]}", labels={"slow": label})
            keys = set(expected_ec(docker_client.api.inspect_container(box.id), root, host))
            seen = wait_until(lambda keys=keys: all(events.first("PUT", key) for key in keys), timeout=15,
                              what=f"every key of {box.name}")
            time.sleep(max(1.0, 3 * TRIP * (proxy.delay > 0)))  # the start's later events handled too, if any
            events.flush(etcd)
            samples.append({"id": box.id, "keys": len(keys), "visible": max(events.first("PUT", key) for key in keys),
                            "revisions": etcd.revision() - revision - 2,  # the flush put a key and deleted it
                            "txns": proxy.request_count("POST /v3/kv/txn") - txns, "ok": seen})
    started = docker_start_times(docker_client, since, [sample["id"] for sample in samples])
    for sample in samples:
        sample["seconds"] = sample["visible"] - started[sample["id"]]
    return samples


def docker_start_times(client, since: float, ids: list[str]) -> dict[str, float]:
    """The `timeNano` of each container's `start` event, read back from Docker's event log."""
    now = time.time()
    until = f"{int(now)}.{int((now % 1) * 1e9):09d}"
    found: dict[str, float] = {}
    for event in client.api.events(since=int(since), until=until, decode=True,
                                   filters={"type": "container", "event": "start"}):
        if event.get("id") in ids:
            found.setdefault(event["id"], event["timeNano"] / 1e9)
    assert set(found) == set(ids), "Docker's event log lacks a start event"
    return found


def test_start_to_visible_costs_one_trip_not_one_per_key(agents, containers, docker_client, slow, root):
    member, proxy = slow
    etcd = EtcdClient(member.url)
    host = "slow-start-host"
    agent = agents.start(host, root, etcd_url=proxy.url, TTL="10")
    agent.wait_running(etcd)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, host), what="the first sync")

    fast = start_to_visible(containers, docker_client, etcd, proxy, root, host, "fast")
    proxy.delay = DELAY
    slowed = start_to_visible(containers, docker_client, etcd, proxy, root, host, "slow")

    def ms(samples: list[dict]) -> str:
        return ", ".join(f"{1000 * sample['seconds']:.0f}" for sample in samples)

    extra = statistics.median(s["seconds"] for s in slowed) - statistics.median(s["seconds"] for s in fast)
    print(f"start -> every key visible, ms: no delay {ms(fast)}; {DELAY * 1000:.0f} ms each way {ms(slowed)}; "
          f"median extra {extra * 1000:.0f} ms ({extra / TRIP:.2f} round trips); revisions per start "
          f"{[s['revisions'] for s in fast + slowed]}, kv/txn requests per start {[s['txns'] for s in fast + slowed]}, "
          f"keys per container {[s['keys'] for s in fast + slowed]}")
    # one transaction per start, whatever the delay: one revision, one kv/txn request, for ten keys and more
    assert all(s["keys"] >= 10 for s in fast + slowed)
    assert [s["revisions"] for s in fast + slowed] == [1] * (2 * SAMPLES), "a start wrote more than one transaction"
    assert [s["txns"] for s in fast + slowed] == [1] * (2 * SAMPLES), "a start sent more than one kv/txn request"
    # the write travels the delay (the proxy is in the way: at least one way) and costs a trip or two, not ten
    assert all(s["seconds"] >= DELAY for s in slowed), "the writes did not go through the delay"
    assert extra < 4 * TRIP, f"start -> visible cost {extra / TRIP:.1f} round trips more at {DELAY * 1000:.0f} ms"
    assert all(s["seconds"] < statistics.median(x["seconds"] for x in fast) + 4 * TRIP for s in slowed)

    errors, warnings = errors_and_warnings(agent.log())
    print(f"warnings: {warnings}")
    assert errors == []
    assert not [line for line in warnings if ETCD_WORDS.search(line)]
