"""SPEC §6: a container told to stop is leaving. The `kill` event carrying its stop signal (or SIGKILL) takes its
keys, in every layout, while it still runs and drains; any other signal changes nothing; it stays out until it
is started again. Podman 4.3 names no signal: there the keys leave at `die`."""

from __future__ import annotations

import re
import signal
import threading

import pytest

from tests.support.waiting import wait_until
from tests.support.watcher import EventLog

DRAINS = "sh -c 'trap \"sleep 3; exit 0\" TERM; while :; do sleep 0.1; done'"  # serves on 3 s after SIGTERM
DEAF = "sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'"  # ignores SIGTERM: killed after the stop timeout
LAYOUTS = {"LAYOUTS": "ec,backends,traefik", "HOST_IP": "10.0.0.1", "TRAEFIK_EXPOSED_BY_DEFAULT": "true"}


def settings(root: str) -> dict[str, str]:
    return {**LAYOUTS, "BACKENDS_DIR": root + "-b", "TRAEFIK_ROOT": root[1:] + "-t"}


def keys_of(etcd, root: str, box) -> list[str]:
    """Every key of the container in the three layouts: by its id, its short id or its name."""
    found = [*etcd.values(root + "/"), *etcd.values(root + "-b/"), *etcd.values(root[1:] + "-t/")]
    return [key for key in found if box.id[:12] in key or f"/{box.name}" in key]


def registered(agent, etcd, root, box) -> None:
    agent.wait_running(etcd)
    wait_until(lambda: len(keys_of(etcd, root, box)) > 10, what="the container in every layout")


def running(box) -> bool:
    box.reload()
    return bool(box.attrs["State"]["Running"])


def test_docker_stop_takes_the_keys_at_the_signal_while_the_container_drains(agents, containers, etcd, root):
    box = containers.run(command=DRAINS, ports={"80/tcp": None})
    agent = agents.start("leaving", root, **settings(root))
    registered(agent, etcd, root, box)
    stopper = threading.Thread(target=lambda: box.stop(timeout=10), daemon=True)
    stopper.start()
    wait_until(lambda: not keys_of(etcd, root, box), timeout=2, what="every key gone at the stop signal")
    assert running(box)  # still draining: consumers stop sending it work before it stops serving
    agent.signal(signal.SIGHUP)  # neither SIGHUP nor a full comparison brings a leaving container back
    wait_until(lambda: re.search(r"SIGHUP: \d+ containers in sync", agent.log()), what="the SIGHUP comparison")
    assert not keys_of(etcd, root, box) and running(box)
    stopper.join(20)
    assert not running(box) and not keys_of(etcd, root, box)
    box.start()
    wait_until(lambda: len(keys_of(etcd, root, box)) > 10, what="registered again once started again")


def test_a_signal_other_than_the_stop_signal_changes_nothing(agents, containers, etcd, etcd_server, root):
    box = containers.run(command=DRAINS, ports={"80/tcp": None})
    agent = agents.start("reloads", root, **settings(root))
    registered(agent, etcd, root, box)
    with EventLog(etcd_server.url, root) as events:
        for sent in ("HUP", "USR1", "WINCH"):
            box.kill(signal=sent)
        wait_until(lambda: agent.log().count("is not its stop signal (15): nothing changes") == 3,
                   what="the three kill events seen")
        events.flush(etcd)
    assert [event for event in events.events if "~flush-" not in event[1]] == []
    assert running(box) and len(keys_of(etcd, root, box)) > 10


@pytest.mark.parametrize("how", ["docker kill", "deaf to SIGTERM"])
def test_sigkill_and_a_container_deaf_to_its_stop_signal_leave_at_the_first_signal(agents, containers, etcd, root,
                                                                                     how):
    box = containers.run(command=DEAF if how == "deaf to SIGTERM" else DRAINS, ports={"80/tcp": None})
    agent = agents.start("killed", root, **settings(root))
    registered(agent, etcd, root, box)
    if how == "docker kill":
        box.kill()
    else:
        stopper = threading.Thread(target=lambda: box.stop(timeout=3), daemon=True)
        stopper.start()
        wait_until(lambda: not keys_of(etcd, root, box), timeout=2, what="keys gone at SIGTERM")
        assert running(box)  # it ignores SIGTERM; SIGKILL follows after the stop timeout
        stopper.join(20)
    wait_until(lambda: not running(box), what="the container dead")
    wait_until(lambda: "removed" in agent.log(), what="the removal logged")
    assert not keys_of(etcd, root, box)


@pytest.mark.parametrize("engine", ["podman"], indirect=True)
def test_on_podman_the_keys_leave_at_die(agents, containers, etcd, root):
    """Podman 4.3's `stop` emits no `kill` event (its `kill` events name no signal): the keys go at `die`."""
    box = containers.run(command=DRAINS, ports={"80/tcp": None})
    agent = agents.start("podman-leaving", root, **settings(root))
    registered(agent, etcd, root, box)
    box.stop(timeout=10)
    wait_until(lambda: not keys_of(etcd, root, box), timeout=5, what="keys gone once it died")
    assert "(die)" in agent.log() or "(stop)" in agent.log()
