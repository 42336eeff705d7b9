"""The etcd member list is followed, not read once: a cluster whose members are all replaced while the agent
runs (a new member added, the one it was configured with removed) keeps being written to."""

from __future__ import annotations

import requests

from tests.support.etcdclient import EtcdClient
from tests.support.expect import docker_picture, etcd_picture
from tests.support.servers import EtcdMember, free_port
from tests.support.waiting import wait_equal, wait_until


def removed(etcd: EtcdClient, member: str) -> bool:
    try:
        etcd.post("cluster/member/remove", {"ID": member})
    except requests.HTTPError:
        return False
    return True


def test_every_member_replaced_while_the_agent_runs(agents, containers, docker_client, tmp_path, root):
    first = EtcdMember("first", free_port(), free_port(), tmp_path / "etcd-first")
    second = EtcdMember("second", free_port(), free_port(), tmp_path / "etcd-second")
    try:
        first.start(f"first={first.peer_url}")
        first.wait_ready()
        old = EtcdClient(first.url)
        containers.run(labels={"members": "before"})
        agent = agents.start("member-host", root, etcd_url=first.url, TTL="4", RESYNC="1")
        agent.wait_running(old)
        wait_equal(lambda: etcd_picture(old, root), docker_picture(docker_client, root, "member-host"), what="sync")

        old.post("cluster/member/add", {"peerURLs": [second.peer_url]})
        second.start(f"first={first.peer_url},second={second.peer_url}", state="existing")
        second.wait_ready()
        wait_until(lambda: second.url in agent.log(), timeout=10, what="the agent to list the new member")
        new = EtcdClient(second.url)
        gone = next(member["ID"] for member in new.post("cluster/member/list", {})["members"]
                    if member.get("name") == "first")
        wait_until(lambda: removed(new, gone), timeout=20, what="etcd to let the first member go (it waits until "
                   "the new one has been connected for a few seconds)")
        first.kill()
        second.wait_ready()  # the remaining member leads alone now

        late = containers.run(labels={"members": "after"})
        wait_equal(lambda: etcd_picture(new, root), docker_picture(docker_client, root, "member-host"), timeout=15,
                   what="registration through the member that replaced the configured one")
        assert new.get(f"{root}/containers/{late.id}/id") is not None
        assert agent.process.poll() is None
    finally:
        first.kill()
        second.kill()
