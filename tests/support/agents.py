"""Agent processes for the tests: `python -m agent` with its own host name, root and log file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.etcdclient import EtcdClient
from tests.support.servers import wait_stopped
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


@dataclass
class AgentProcess:
    process: subprocess.Popen
    host: str
    root: str
    log_path: Path

    @property
    def marker_key(self) -> str:
        return f"{self.root}/agents/{self.host}"

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float = 15) -> int:
        return wait_stopped(self.process, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def marker(self, etcd: EtcdClient) -> dict | None:
        import json

        stored = etcd.get(self.marker_key)
        return json.loads(stored.value) if stored else None

    def wait_running(self, etcd: EtcdClient, timeout: float = 20) -> dict:
        return wait_until(lambda: self._running_marker(etcd), timeout=timeout, what=f"agent {self.host} marker")

    def _running_marker(self, etcd: EtcdClient) -> dict | None:
        if self.process.poll() is not None:
            raise AssertionError(f"agent exited with {self.process.returncode}:\n{self.log()}")
        marker = self.marker(etcd)
        return marker if marker and marker.get("state") == "running" else None


def agent_environment(docker_url: str, etcd_url: str, host: str, root: str, **settings: str) -> dict[str, str]:
    """The environment of a test agent; `settings` name EC_REGISTRATOR_* variables without the prefix."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EC_", "ETCD_", "HOST_IP"))}
    env.update({
        "DOCKER_HOST": docker_url,
        "EC_REGISTRATOR_ETCD_HOSTS": etcd_url.replace("http://", ""),
        "EC_REGISTRATOR_HOST": host,
        "EC_REGISTRATOR_ETCD_DIR": root,
        "EC_REGISTRATOR_TTL": "10",
        "EC_REGISTRATOR_HTTP_ADDR": "",
        "EC_REGISTRATOR_LOG_LEVEL": "debug",
        "PYTHONPATH": str(REPO),
    })
    env.update({f"EC_REGISTRATOR_{name.upper()}": value for name, value in settings.items()})
    return env


AGENT_COMMAND = (sys.executable, "-m", "agent")


class AgentFactory:
    def __init__(self, workdir: Path, docker_url: str, etcd_url: str,
                 command: tuple[str, ...] = AGENT_COMMAND) -> None:
        self.workdir = workdir
        self.docker_url = docker_url
        self.etcd_url = etcd_url
        self.command = command
        self.started: list[AgentProcess] = []

    def start(self, host: str, root: str, args: tuple[str, ...] = (), docker_url: str | None = None,
              etcd_url: str | None = None, **settings: str) -> AgentProcess:
        log_path = self.workdir / f"agent-{host}-{len(self.started)}.log"
        env = agent_environment(docker_url or self.docker_url, etcd_url or self.etcd_url, host, root, **settings)
        with open(log_path, "wb") as log:
            process = subprocess.Popen([*self.command, *args], cwd=REPO, env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
        agent = AgentProcess(process, host, root, log_path)
        self.started.append(agent)
        return agent

    def kill_all(self) -> None:
        for agent in self.started:
            if agent.process.poll() is None:
                agent.process.kill()
                agent.process.wait(10)
