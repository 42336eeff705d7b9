"""Builds the agent image on a Docker daemon with no registry: a Debian base from debootstrap, imported
under the tag the Dockerfile's build stage names, and the pinned wheels downloaded on the host first. The base
is kept in build/ (a tar of the debootstrap tree), so a new daemon (each test run has one) imports it again
instead of running debootstrap; `make clean` removes it. The base is only the build stage's: the image itself
holds no file of it but those scripts/image-rootfs takes, after the build stage's `apt-get upgrade`.

    python -m tests.support.image [DOCKER_HOST]     (make image)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parents[2]
BASE = "debian:bookworm-slim"
IMAGE = "service-registrator:latest"
BASE_TAR = REPO / "build" / "base" / "debian-bookworm-minbase.tar"
PYTHON_VERSION = "3.11"  # Debian bookworm's, the image's interpreter: the wheels are for it, whatever runs this


def debian_mirror() -> str:
    """The machine's configured Debian mirror (deb822 or one-line sources), else the default one."""
    for source in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if source.exists():
            found = re.search(r"(?:URIs:|deb)\s+(https?://\S+/debian)\b", source.read_text())
            if found:
                return found.group(1)
    return "http://deb.debian.org/debian"


def ensure_base(client: docker.DockerClient) -> None:
    try:
        client.images.get(BASE)
        return
    except docker.errors.ImageNotFound:
        pass
    if not BASE_TAR.exists():
        make_base_tar()
    repository, tag = BASE.split(":")
    with open(BASE_TAR, "rb") as tar:
        client.api.import_image_from_data(tar, repository=repository, tag=tag)


def make_base_tar() -> None:
    """debootstrap --variant=minbase from the machine's Debian mirror, without the packages it downloaded."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (Debian package debootstrap); run `make deps`")
    BASE_TAR.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sr-base-"))
    try:
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(work / "root"), debian_mirror()],
                       check=True, stdout=subprocess.DEVNULL)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):  # debootstrap keeps every .deb it used
            subprocess.run(["find", str(work / "root" / cache), "-type", "f", "-delete"], check=True)
        partial = BASE_TAR.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(work / "root"), "-cf", str(partial), "."], check=True)
        partial.replace(BASE_TAR)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def download_wheels() -> None:
    wheels = REPO / "build" / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                           "--python-version", PYTHON_VERSION, "-d", str(wheels),
                           "-r", str(REPO / "requirements.txt")], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"pip download failed: {done.stderr[-2000:]}")


def build(client: docker.DockerClient) -> str:
    ensure_base(client)
    download_wheels()
    client.images.build(path=str(REPO), tag=IMAGE, network_mode="host", rm=True, forcerm=True)
    return IMAGE


def size(client: docker.DockerClient, image: str = IMAGE) -> int:
    """The image's size in bytes, as `docker image inspect` gives it."""
    return client.api.inspect_image(image)["Size"]


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    client = docker.DockerClient(base_url=url, version="auto", timeout=900)
    print(f"{build(client)}: {size(client) / 1e6:.1f} MB")
