"""The command line: --version, check, --dry-run, --once, healthcheck."""

from __future__ import annotations

import json
import subprocess
import sys

from agent import __version__
from tests.support.agents import REPO, agent_environment
from tests.support.expect import docker_picture, etcd_picture
from tests.support.servers import free_port
from tests.support.waiting import wait_equal, wait_until


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


def test_version():
    done = run_cli({"PATH": "/usr/bin:/bin"}, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"service-registrator {__version__}"


def test_check_reports_docker_and_etcd(docker_url, etcd_server, root):
    env = agent_environment(docker_url, etcd_server.url, "check-host", root)
    done = run_cli(env, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "docker: ok" in done.stdout and "etcd: ok, version 3." in done.stdout
    assert "marker: none" in done.stdout
    env["EC_REGISTRATOR_ETCD_HOSTS"] = f"127.0.0.1:{free_port()}"
    done = run_cli(env, "check")
    assert done.returncode == 1 and "etcd: FAILED" in done.stdout


def test_dry_run_prints_exactly_what_a_real_run_writes(agents, containers, docker_client, docker_url, etcd_server,
                                                       etcd, root):
    containers.run(ports={"80/tcp": None}, labels={"dry": "run", "a/b": "%"})
    settings = {"LAYOUTS": "ec,backends", "HOST_IP": "10.0.0.9", "BACKENDS_DIR": root + "-b"}
    done = run_cli(agent_environment(docker_url, etcd_server.url, "dry-host", root, **settings), "--dry-run")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert etcd.items(root + "/") == {} and etcd.items(root + "-b/") == {}
    agent = agents.start("dry-host", root, **settings)
    agent.wait_running(etcd)
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "dry-host"), what="sync")
    written = {**etcd_picture(etcd, root), **etcd.values(root + "-b/")}
    assert printed == written


def test_once_syncs_then_exits_leaving_keys_on_the_lease(agents, containers, docker_client, etcd, root):
    containers.run(labels={"once": "yes"})
    agent = agents.start("once-host", root, args=("--once",), TTL="5")
    assert agent.wait_exit(timeout=30) == 0
    assert etcd_picture(etcd, root) == docker_picture(docker_client, root, "once-host")
    assert agent.marker(etcd)["state"] == "stopped"
    assert "expire in 5s" in agent.log()


def test_healthcheck_asks_the_running_agent(agents, docker_url, etcd_server, etcd, root):
    port = free_port()
    env = agent_environment(docker_url, etcd_server.url, "health-host", root, HTTP_ADDR=f"0.0.0.0:{port}")
    assert run_cli(env, "healthcheck").returncode == 1
    agent = agents.start("health-host", root, HTTP_ADDR=f"0.0.0.0:{port}")
    agent.wait_running(etcd)
    wait_until(lambda: run_cli(env, "healthcheck").returncode == 0, timeout=15, what="healthcheck to pass")


def test_json_logs_are_one_object_per_line_with_container_name_and_id(agents, containers, etcd, root):
    box = containers.run(labels={"log": "json"})
    agent = agents.start("json-host", root, LOG_FORMAT="json", LOG_LEVEL="info")
    agent.wait_running(etcd)
    wait_until(lambda: box.id[:12] in agent.log(), what="a line about the container")
    entries = [json.loads(line) for line in agent.log().splitlines() if line.strip()]
    assert {entry["level"] for entry in entries} <= {"info", "warning"}
    assert any(box.name in entry["message"] and box.id[:12] in entry["message"] for entry in entries)
