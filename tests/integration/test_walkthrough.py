"""A new user's first hour (issue 24), as the README and docs/consumers.md write it: `make run`, `make status`,
`make discover`, the demo image (no registry: imported from busybox-static) answering through haproxy, then
`make run` stopped with Ctrl-C and started again while discover keeps routing.

The commands run as written, with the machine's settings a user would export: DOCKER_HOST names the tests'
private dockerd (so `make run` starts no engine of its own), SR_RUN_DIR a run folder of the test's own, and the
HTTP endpoints free loopback ports (the defaults, 0.0.0.0:9479 and :9480, may be taken on a test machine)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.agents import REPO
from tests.support.demo import DEMO_IMAGE
from tests.support.scrape import status
from tests.support.servers import free_port
from tests.support.waiting import wait_until


class Terminal:
    """One command typed on a terminal of its own (a session: Ctrl-C is a SIGINT to its process group)."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def says(self, words: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exited with {self.process.returncode}:\n{self.text()[-3000:]}")
        return words in self.text()

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(30)

    def close(self) -> None:
        """Ctrl-C, as a user ends it (its helpers stop with it); SIGKILL when it does not end in time."""
        if self.process.poll() is not None:
            return
        try:
            self.ctrl_c()
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    try:
        yield opened
    finally:
        for terminal in opened:
            terminal.close()
        etcd_pid = tmp_path / "run" / "etcd.pid"  # the embedded etcd, should its make run have been killed
        if etcd_pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(etcd_pid.read_text()), signal.SIGKILL)


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", target], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_walkthrough_as_written(tmp_path, docker_url, dockerd_client, terminals):
    agent_http, discover_http, service_port = free_port(), free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EC_", "ETCD_", "HOST_IP"))}
    env.update({"DOCKER_HOST": docker_url, "SR_RUN_DIR": str(tmp_path / "run"),
                "EC_REGISTRATOR_HTTP_ADDR": f"127.0.0.1:{agent_http}",
                "EC_REGISTRATOR_DISCOVER_HTTP_ADDR": f"127.0.0.1:{discover_http}"})
    # docs/consumers.md: EC_REGISTRATOR_LAYOUTS=ec,backends EC_REGISTRATOR_HOST_IP=127.0.0.1 make run
    agent_env = {**env, "EC_REGISTRATOR_LAYOUTS": "ec,backends", "EC_REGISTRATOR_HOST_IP": "127.0.0.1"}

    def make_run() -> Terminal:
        terminal = Terminal(["make", "run"], agent_env, tmp_path / f"make-run-{len(terminals)}.log")
        terminals.append(terminal)
        wait_until(lambda: terminal.says("ready: this host's"), timeout=60, what="make run: the ready line")
        return terminal

    first = make_run()
    shown = make("status", env)
    assert shown.returncode in (0, 1) and "HOST" in shown.stdout, shown.stdout + shown.stderr

    discover = Terminal(["make", "discover"], env, tmp_path / "make-discover.log")
    terminals.append(discover)
    ready = f"http://127.0.0.1:{discover_http}/readyz"
    wait_until(lambda: discover.says("routing") and status(ready) == 200, timeout=60, what="make discover ready")

    built = make("demo-image", env)
    assert built.returncode == 0, built.stdout + built.stderr
    labels = {"SERVICE_NAME": "hello", TEST_LABEL: RUN_ID}
    dockerd_client.containers.run(DEMO_IMAGE, f"nc -ll -p {service_port} -e echo hello", detach=True, labels=labels,
                                  ports={f"{service_port}/tcp": ("127.0.0.1", None)})
    wait_until(lambda: client(service_port) == "hello", timeout=30, what="hello through haproxy (busybox nc)")

    first.ctrl_c()  # make itself says "Interrupt"; the agent below it stops as SIGINT says
    assert "SIGINT: stopped" in first.text(), first.text()[-3000:]
    wait_until(lambda: status(ready) == 503, timeout=10, what="discover not ready while etcd is away")
    make_run()
    wait_until(lambda: status(ready) == 200, timeout=30, what="discover ready again on the same endpoint")
    again = free_port()
    dockerd_client.containers.run(DEMO_IMAGE, f"nc -ll -p {again} -e echo again", detach=True,
                                  labels={**labels, "SERVICE_NAME": "again"},
                                  ports={f"{again}/tcp": ("127.0.0.1", None)})
    wait_until(lambda: client(again) == "again", timeout=30, what="a container started after the restart routed")
    # The route never left haproxy; the demo's server (busybox nc, a listen backlog of two) may miss one
    # connection while haproxy's old and new workers both check it, so the client may need a second try.
    assert "removed hello" not in discover.text(), discover.text()[-3000:]
    wait_until(lambda: client(service_port) == "hello", timeout=10, what="hello still routed after the restart")
    assert discover.process.poll() is None
    noisy = [line for line in discover.text().splitlines() if " ERROR " in line]
    assert noisy == [], noisy


def client(port: int) -> str:
    """The walkthrough's client: busybox's nc (busybox-static is installed with discover; the machine may have no
    other nc)."""
    done = subprocess.run(["busybox", "nc", "-w", "2", "127.0.0.1", str(port)], capture_output=True, text=True,
                          timeout=10, stdin=subprocess.DEVNULL)
    return done.stdout.strip()
