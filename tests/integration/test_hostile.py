"""Hostile containers: labels that try to break the layout, huge values, many labels, many ports."""

from __future__ import annotations

from tests.support.expect import docker_picture, etcd_picture
from tests.support.waiting import wait_equal, wait_until

HOSTILE = {"a/b": "slash", "p%c": "%2F", "..": "dots", "../../escape": "up", "ctl\x01\x7f\n": "line\nbreak",
           "ünïcödé ✓": "ça va", "empty": "", "": "empty key", "big": "x" * 65536}
HUGE = "h" * (2 * 1024 * 1024)


def test_hostile_labels_many_labels_many_ports_and_an_oversized_value(agents, containers, docker_client, etcd,
                                                                      root):
    labels = {**HOSTILE, **{f"label-{n}": str(n) for n in range(1000)}, "huge": HUGE}
    ports = {f"{9000 + n}/tcp": [] for n in range(200)}
    agent = agents.start("hostile-host", root)
    agent.wait_running(etcd)
    box = containers.run(labels=labels, ports=ports)
    expected = {key: value for key, value in docker_picture(docker_client, root, "hostile-host").items()
                if "/huge" not in key}
    assert len(expected) > 2800
    wait_equal(lambda: etcd_picture(etcd, root), expected, timeout=20, what="the hostile container registered")
    wait_until(lambda: f"({box.id[:12]}): skipping {root}/containers/{box.id}/labels/huge" in agent.log(),
               what="a warning naming the container and the label")
    stored = etcd_picture(etcd, root)
    assert stored[f"{root}/containers/{box.id}/labels/a%2Fb"] == "slash"
    assert stored[f"{root}/containers/{box.id}/labels/..%2F..%2Fescape"] == "up"
    assert stored[f"{root}/labels/p%25c/{box.id}"] == "%2F"
    assert all(key.startswith(f"{root}/") for key in stored)
    revisions = {key: item.mod_revision for key, item in etcd.items(root + "/").items() if box.id in key}
    own = [revision for key, revision in revisions.items() if key.startswith(f"{root}/containers/")]
    index = [revision for key, revision in revisions.items() if not key.startswith(f"{root}/containers/")]
    assert len(set(revisions.values())) > 1, "expected several transactions"
    assert max(own) <= min(index), "own keys must be written before index keys (SPEC §3)"

    box.remove(force=True)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "hostile-host"), timeout=20,
               what="every key of the hostile container removed")
    assert agent.process.poll() is None
