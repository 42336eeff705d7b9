"""`service-registrator discover` processes for the tests, and a TCP client for the routes they serve."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.support.agents import REPO
from tests.support.background import Background
from tests.support.servers import wait_stopped
from tests.support.waiting import wait_until


def ask(port: int, timeout: float = 2.0) -> str:
    """Connect to 127.0.0.1:port and read until the server closes; the reply, or `refused: …` / `failed: …`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
            chunks = []
            while chunk := client.recv(4096):
                chunks.append(chunk)
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return f"failed: {exc}"
    return b"".join(chunks).decode(errors="replace").strip()


def replies(port: int, count: int = 8) -> set[str]:
    return {ask(port) for _ in range(count)}


class Traffic(Background):
    """Sequential requests through a listener on a thread (each a new TCP connection), every reply counted
    (`refused`, `failed: …` included); `record` sees each with its duration and wall-clock start."""

    def __init__(self, port: int, timeout: float = 2.0) -> None:
        super().__init__("traffic", join_timeout=timeout + 5)
        self.port = port
        self.timeout = timeout
        self.seen: Counter[str] = Counter()

    def loop(self) -> None:
        while not self.stopping:
            began, wall = time.monotonic(), time.time()
            reply = ask(self.port, self.timeout)
            self.seen[reply] += 1
            self.record(reply, time.monotonic() - began, wall)

    def record(self, reply: str, seconds: float, began: float) -> None:
        """One reply: nothing more to note here (a benchmark notes more)."""


def discover_environment(etcd_url: str, backends: str, config: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EC_", "ETCD_", "HOST_IP"))}
    env.update({
        "EC_REGISTRATOR_ETCD_HOSTS": etcd_url.replace("http://", ""),
        "EC_REGISTRATOR_BACKENDS_DIR": backends,
        "EC_REGISTRATOR_HAPROXY_CONFIG": str(config),
        "EC_REGISTRATOR_DISCOVER_BIND": "127.0.0.1",
        "EC_REGISTRATOR_DISCOVER_DEBOUNCE": "0.2",
        "EC_REGISTRATOR_DISCOVER_HTTP_ADDR": "",
        "EC_REGISTRATOR_DISCOVER_LOCAL_BACKENDS": "true",  # one machine: the backends are on its loopback
        "EC_REGISTRATOR_LOG_LEVEL": "debug",
        "PYTHONPATH": str(REPO),
    })
    env.update({f"EC_REGISTRATOR_{name.upper()}": value for name, value in settings.items()})
    return env


def run_discover(env: dict[str, str], *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """A discover command that ends by itself (--once, check, a bad setting)."""
    return subprocess.run([sys.executable, "-m", "agent", "discover", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class DiscoverProcess:
    process: subprocess.Popen
    config: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float = 15) -> int:
        return wait_stopped(self.process, timeout)

    def reloads(self) -> int:
        return len(re.findall(r"haproxy reloaded in", self.log()))

    def wait_started(self, timeout: float = 20) -> None:
        wait_until(lambda: self._alive() and "haproxy started" in self.log(), timeout=timeout,
                   what="discover's haproxy")

    def wait_reloads(self, count: int, timeout: float = 10) -> None:
        wait_until(lambda: self._alive() and self.reloads() >= count, timeout=timeout,
                   what=f"{count} haproxy reloads")

    def haproxy_pids(self) -> list[int]:
        """Processes running haproxy on this discover's configuration (the master and its workers)."""
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if entry.name.isdigit() and str(self.config).encode() in command and b"-W" in command:
                pids.append(int(entry.name))
        return pids

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"discover exited with {self.process.returncode}:\n{self.log()}")
        return True


class DiscoverFactory:
    def __init__(self, workdir: Path, etcd_url: str) -> None:
        self.workdir = workdir
        self.etcd_url = etcd_url
        self.started: list[DiscoverProcess] = []

    def environment(self, backends: str, etcd_url: str | None = None, **settings: str) -> dict[str, str]:
        config = self.workdir / f"haproxy-{len(self.started)}" / "haproxy.cfg"
        return discover_environment(etcd_url or self.etcd_url, backends, config, **settings)

    def start(self, backends: str, etcd_url: str | None = None, **settings: str) -> DiscoverProcess:
        env = self.environment(backends, etcd_url, **settings)
        log_path = self.workdir / f"discover-{len(self.started)}.log"
        with open(log_path, "wb") as log:
            # a session of its own, as a command typed on a terminal has: Ctrl-C is a SIGINT to its process group
            process = subprocess.Popen([sys.executable, "-m", "agent", "discover"], cwd=REPO, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        discover = DiscoverProcess(process, Path(env["EC_REGISTRATOR_HAPROXY_CONFIG"]), log_path)
        self.started.append(discover)
        return discover

    def kill_all(self) -> None:
        """Every discover started, and any haproxy left on one of their configurations, by pid."""
        for discover in self.started:
            if discover.process.poll() is None:
                discover.process.kill()
                discover.process.wait(10)
            for pid in discover.haproxy_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
