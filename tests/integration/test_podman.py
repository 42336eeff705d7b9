"""What only a Podman host has: its API service restarted on its own while containers change (Podman's
containers outlive the service). The rest of the matrix runs on both engines in the other modules."""

from __future__ import annotations

import pytest

from tests.support.expect import docker_picture, etcd_picture
from tests.support.waiting import wait_equal

pytestmark = pytest.mark.parametrize("engine", ["podman"], indirect=True)


def test_service_restart_replays_what_happened_while_it_was_down(agents, containers, docker_client, engine, etcd,
                                                                   root):
    staying, doomed = containers.run(), containers.run()
    agent = agents.start("podman-restart-host", root)
    agent.wait_running(etcd)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "podman-restart-host"),
               what="sync")

    engine.podman.halt()
    assert engine.podman.run("rm", "--force", "--time", "0", doomed.id).returncode == 0  # no API to see it
    engine.podman.start()
    fresh = containers.run(labels={"after": "restart"})
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "podman-restart-host"),
               timeout=20, what="exact state after the service restart")
    assert etcd.get(f"{root}/containers/{staying.id}/id") is not None
    assert etcd.get(f"{root}/containers/{fresh.id}/id") is not None
    assert etcd.get(f"{root}/containers/{doomed.id}/id") is None
    assert "Docker event stream reconnected" in agent.log()
