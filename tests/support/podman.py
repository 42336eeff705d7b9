"""A private Podman engine for the tests: `podman system service` (Debian's podman 4.3) with its own root,
runroot, tmpdir, network configuration, events log and unix socket under a temp dir, like the private dockerd.

Learned on this VM: Podman's default ulimits are refused (`error setting rlimit`), so a containers.conf of our
own sets them; there is no systemd, so cgroups are managed by cgroupfs and events go to a file; health checks
have no timers, so a test runs them itself (`podman healthcheck run`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker

from tests.support.servers import in_own_home, stop_process
from tests.support.waiting import wait_until

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{events}"
"""


@dataclass
class PodmanService:
    workdir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.workdir / 'podman.sock'}"

    @property
    def environment(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.workdir / "containers.conf")}

    def command(self, *args: str) -> list[str]:
        """A podman command line on this engine's own storage and configuration."""
        folders = {name: self.workdir / name for name in ("root", "runroot", "tmp", "networks")}
        return ["podman", "--root", str(folders["root"]), "--runroot", str(folders["runroot"]), "--tmpdir",
                str(folders["tmp"]), "--network-config-dir", str(folders["networks"]), "--storage-driver", "vfs",
                *args]

    def start(self) -> None:
        if shutil.which("podman") is None:
            raise RuntimeError("podman is not installed (Debian package podman); run `make deps`")
        for name in ("root", "runroot", "tmp", "networks"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        events = self.workdir / "events.log"
        (self.workdir / "containers.conf").write_text(CONTAINERS_CONF.format(events=events))
        with open(self.workdir / "service.log", "wb") as log:
            self.process = subprocess.Popen(self.command("system", "service", "--time=0", self.url),
                                            env=self.environment, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_until(self._pings, timeout=30, what="the private podman service")

    def healthcheck(self, cid: str) -> int:
        """Run a container's health check once (no systemd timers here); its exit status."""
        done = self.run("healthcheck", "run", cid)
        if done.returncode not in (0, 1):  # 1: unhealthy
            raise RuntimeError(f"podman healthcheck run: {done.stderr.strip()}")
        return done.returncode

    def _pings(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"podman service exited: {(self.workdir / 'service.log').read_text()[-2000:]}")
        try:
            return docker.APIClient(base_url=self.url, version="auto", timeout=2).ping()
        except Exception:  # noqa: BLE001 - any failure means "not up yet"
            return False

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """A podman command on this engine's storage, without the service (it works while the service is down)."""
        return subprocess.run(self.command(*args), env=self.environment, capture_output=True, text=True, timeout=60)

    def halt(self) -> None:
        """Stop the API service alone: Podman's containers run on (conmon is their parent, not the service)."""
        if self.process is not None:
            stop_process(self.process)

    def stop(self) -> None:
        """Every container of this engine (its storage is ours alone), the service, and the `conmon` processes
        Podman keeps after each exec session (for `exit_command_delay`, 5 minutes: setting it to 0 removes the
        session before docker-py can read its exit code)."""
        if self.process is not None and self.process.poll() is None:
            self.run("rm", "--all", "--force", "--time", "0")
            self.halt()
        for pid in self.own_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def own_processes(self) -> list[int]:
        """Processes whose command line names this engine's own folder (conmon, the service)."""
        mine = str(self.workdir).encode()
        found = []
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and int(entry.name) != os.getpid() and mine in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
        return found


def private_podman() -> contextlib.AbstractContextManager[PodmanService]:
    return in_own_home("sr-podman-", PodmanService)
