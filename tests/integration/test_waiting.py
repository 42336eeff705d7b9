"""Docker or etcd not up yet: the agent waits with backoff, a log line per attempt, and never crash-loops."""

from __future__ import annotations

import signal

from tests.support.agents import AgentFactory
from tests.support.etcdclient import EtcdClient
from tests.support.expect import docker_picture, etcd_picture
from tests.support.servers import EtcdMember, free_port
from tests.support.waiting import wait_equal, wait_until


def test_waits_for_etcd_then_registers(tmp_path, docker_url, docker_client, containers, root):
    containers.run()
    member = EtcdMember("late", free_port(), free_port(), tmp_path / "etcd-late")
    factory = AgentFactory(tmp_path, docker_url, member.url)
    try:
        agent = factory.start("late-etcd-host", root)
        wait_until(lambda: agent.log().count("waiting for etcd") >= 2, what="two logged attempts")
        assert agent.process.poll() is None
        member.start(f"late={member.peer_url}")
        member.wait_ready()
        etcd = EtcdClient(member.url)
        agent.wait_running(etcd)
        wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "late-etcd-host"),
                   what="registration once etcd is up")
        assert "Traceback" not in agent.log()
    finally:
        factory.kill_all()
        member.stop()


def test_waits_for_docker_and_stops_cleanly(tmp_path, etcd_server, etcd, root):
    factory = AgentFactory(tmp_path, "unix:///nonexistent/docker.sock", etcd_server.url)
    try:
        agent = factory.start("no-docker-host", root)
        wait_until(lambda: agent.log().count("waiting for Docker") >= 2, what="two logged attempts")
        assert agent.process.poll() is None
        agent.signal(signal.SIGTERM)
        assert agent.wait_exit() == 0
        assert etcd.items(root + "/") == {}
        assert "Traceback" not in agent.log()
    finally:
        factory.kill_all()
