"""SPEC §6 take-over: a restarted agent carries on a crashed one's lease without a delete; an adopted lease is
kept alive at its own TTL until it is replaced without a gap; an agent that finds its host taken exits."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.support.expect import docker_picture, etcd_picture
from tests.support.waiting import wait_equal, wait_until
from tests.support.watcher import EventLog

TTL = 4


def registered(agents, etcd, docker_client, root, host, **settings):
    agent = agents.start(host, root, **settings)
    marker = agent.wait_running(etcd)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, host), what="initial sync")
    return agent, marker


def marker_of_another(agent, etcd, marker: dict) -> dict:
    """The marker once an agent other than the one that wrote `marker` has written it."""
    def probe() -> dict | None:
        found = agent.marker(etcd) or {}
        return found if found.get("agent") not in (None, marker["agent"]) else None

    return wait_until(probe, what=f"a marker of another agent than {marker['agent']}")


def test_kill_9_and_immediate_restart_takes_over_without_a_delete(agents, containers, docker_client, etcd,
                                                                  etcd_server, root):
    containers.run(labels={"crash": "restart"})
    agent, marker = registered(agents, etcd, docker_client, root, "crash-host", TTL=str(TTL))
    with EventLog(etcd_server.url, root + "/") as events:
        agent.process.kill()
        agent.process.wait(5)
        killed_at = time.monotonic()
        successor = agents.start("crash-host", root, TTL=str(TTL))
        wait_until(lambda: "adopting lease" in successor.log(), timeout=TTL, what="the take-over within the TTL")
        took = time.monotonic() - killed_at
        taken = marker_of_another(successor, etcd, marker)
        time.sleep(TTL + 1)  # past the dead agent's TTL: the adopted lease must be alive
        events.flush(etcd)
    assert taken["lease"] == marker["lease"]
    assert taken["state"] == "running"
    assert events.deletes() == []
    assert etcd_picture(etcd, root) == docker_picture(docker_client, root, "crash-host")
    print(f"taken over {took:.2f}s after kill -9 (TTL {TTL}s)")


def test_a_live_agent_is_not_taken_over(agents, containers, docker_client, etcd, root):
    containers.run()
    first, marker = registered(agents, etcd, docker_client, root, "live-host", TTL=str(TTL))
    second = agents.start("live-host", root, TTL=str(TTL))
    wait_until(lambda: "waiting" in second.log(), what="the second agent to say it waits")
    time.sleep(2 * TTL)  # twice the TTL: the first agent's keepalives keep it the holder
    assert "adopting" not in second.log()
    assert first.marker(etcd)["agent"] == marker["agent"]
    assert first.process.poll() is None


@pytest.mark.parametrize(("old_ttl", "new_ttl"), [(3, 12), (12, 3)])
def test_adopted_lease_of_another_ttl_is_kept_alive_then_replaced_without_a_gap(agents, containers, docker_client,
                                                                               etcd, etcd_server, root, old_ttl,
                                                                               new_ttl):
    """12 -> 3 was a defect: the heartbeat slept out the adopted lease's TTL/3 (4 s) while the keys had moved to
    the new 3 s lease, which expired before its first keepalive (23 deletes seen)."""
    containers.run(labels={"ttl": f"{old_ttl}-then-{new_ttl}"})
    agent, marker = registered(agents, etcd, docker_client, root, "ttl-host", TTL=str(old_ttl))
    with EventLog(etcd_server.url, root + "/") as events:
        agent.signal(signal.SIGINT)
        assert agent.wait_exit() == 0
        successor = agents.start("ttl-host", root, TTL=str(new_ttl))
        wait_until(lambda: (successor.marker(etcd) or {}).get("lease") not in (None, marker["lease"]), timeout=10,
                   what=f"the adopted lease replaced by one of TTL {new_ttl}")
        time.sleep(2 * min(old_ttl, new_ttl) + 1)  # the window: longer than the shorter TTL, twice
        events.flush(etcd)
    new_lease = successor.marker(etcd)["lease"]
    remaining, keys = etcd.lease_keys(new_lease)
    # kept alive every TTL/3; etcd reports whole seconds, truncated: never below TTL - TTL/3 - 1 (7 of 12, 1 of 3)
    assert new_ttl - new_ttl / 3 - 1 <= remaining <= new_ttl
    assert etcd.lease_keys(marker["lease"])[0] == -1, "the adopted lease is revoked once replaced"
    assert keys == set(etcd.items(root + "/"))
    assert events.deletes() == []
    assert etcd_picture(etcd, root) == docker_picture(docker_client, root, "ttl-host")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_frozen_agent_that_comes_back_to_a_taken_host_exits(agents, containers, docker_client, etcd, root,
                                                              log_format):
    """In JSON every line of the log is JSON: a failed greenlet's traceback was printed raw by gevent's hub."""
    containers.run(labels={"frozen": "yes"})
    frozen, marker = registered(agents, etcd, docker_client, root, "frozen-host", TTL=str(TTL),
                                LOG_FORMAT=log_format)
    frozen.signal(signal.SIGSTOP)
    try:
        successor = agents.start("frozen-host", root, TTL=str(TTL))
        wait_until(lambda: "adopting lease" in successor.log(), timeout=TTL + 2, what="the take-over")
        marker_of_another(successor, etcd, marker)
    finally:
        frozen.signal(signal.SIGCONT)
    assert frozen.wait_exit(timeout=10) == 1
    if log_format == "json":
        entries = [json.loads(line) for line in frozen.log().splitlines()]  # raises on a line that is not JSON
        errors = [entry["message"] for entry in entries if entry["level"] == "error"]
    else:
        errors = [line for line in frozen.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "taken this host over" in errors[0]
    assert successor.process.poll() is None
    assert successor.marker(etcd)["agent"] != marker["agent"]
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "frozen-host"),
               what="the successor's picture intact")
