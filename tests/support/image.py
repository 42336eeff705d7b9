"""Builds the agent image on a Docker daemon with no registry: a Debian base from debootstrap, imported
under the tag the Dockerfile names, and the pinned wheels downloaded on the host first.

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
    work = Path(tempfile.mkdtemp(prefix="sr-base-"))
    try:
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(work / "root"), debian_mirror()],
                       check=True, stdout=subprocess.DEVNULL)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):  # debootstrap keeps every .deb it used
            subprocess.run(["find", str(work / "root" / cache), "-type", "f", "-delete"], check=True)
        subprocess.run(["tar", "-C", str(work / "root"), "-cf", str(work / "root.tar"), "."], check=True)
        repository, tag = BASE.split(":")
        with open(work / "root.tar", "rb") as tar:
            client.api.import_image_from_data(tar, repository=repository, tag=tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def download_wheels() -> None:
    wheels = REPO / "build" / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(wheels),
                           "-r", str(REPO / "requirements.txt")], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"pip download failed: {done.stderr[-2000:]}")


def build(client: docker.DockerClient) -> str:
    ensure_base(client)
    download_wheels()
    client.images.build(path=str(REPO), tag=IMAGE, network_mode="host", rm=True, forcerm=True)
    return IMAGE


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    print(build(docker.DockerClient(base_url=url, version="auto", timeout=900)))
