"""The shipped image, built from the Dockerfile and run for real: registration, signals through tini,
`docker stop`, HEALTHCHECK; over TLS as a user that is not root; what it holds (issue 24: only what the agent
runs, at most 80 MB)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import docker
import pytest

from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.etcdclient import EtcdClient
from tests.support.expect import docker_picture, etcd_picture
from tests.support.image import build, size
from tests.support.servers import free_port, start_etcd
from tests.support.tls import make_tls
from tests.support.waiting import wait_equal, wait_until

MAX_SIZE = 80_000_000  # bytes, as `docker image inspect` counts them (and `docker images` shows MB)


@pytest.fixture(scope="session")
def image(dockerd_client: docker.DockerClient) -> str:
    return build(dockerd_client)


def run_agent(client, image, docker_url, etcd_url, root, host, volumes=None, user=None, read_only=False, **settings):
    socket_dir = str(Path(docker_url.removeprefix("unix://")).parent)
    env = {"EC_REGISTRATOR_ETCD_HOSTS": etcd_url.removeprefix("http://"), "EC_REGISTRATOR_HOST": host,
           "EC_REGISTRATOR_ETCD_DIR": root, "EC_REGISTRATOR_DOCKER_SOCKET": "/var/run/docker-dir/docker.sock",
           "EC_REGISTRATOR_HTTP_ADDR": f"127.0.0.1:{free_port()}", "EC_REGISTRATOR_TTL": "10", **settings}
    return client.containers.run(image, detach=True, network_mode="host", environment=env, user=user,
                                 read_only=read_only, labels={TEST_LABEL: RUN_ID}, name=f"registrator-{host}",
                                 volumes={socket_dir: {"bind": "/var/run/docker-dir", "mode": "ro"}, **(volumes or {})})


def test_the_image_registers_obeys_signals_and_reports_healthy(image, docker_client, docker_url, containers,
                                                               etcd_server, etcd, root):
    containers.run(labels={"via": "image"})
    agent = run_agent(docker_client, image, docker_url, etcd_server.url, root, "image-host")
    wait_until(lambda: docker_client.api.inspect_container(agent.id)["State"]["Health"]["Status"] == "healthy",
               timeout=60, what="HEALTHCHECK healthy")
    # the agent's own container is registered too, once healthy
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "image-host"), timeout=30,
               what="registered by the image")
    assert etcd.get(f"{root}/hosts/image-host/{agent.name}") is not None

    etcd.put(f"{root}/hosts/image-host/ghost", "f" * 64)
    agent.kill(signal="SIGHUP")
    wait_until(lambda: etcd.get(f"{root}/hosts/image-host/ghost") is None, what="SIGHUP through tini")
    etcd.put(f"{root}/foreign", "x")
    agent.kill(signal="SIGUSR2")
    wait_until(lambda: etcd.get(f"{root}/foreign") is None, what="SIGUSR2 through tini")
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "image-host"),
               what="back after SIGUSR2")

    agent.kill(signal="SIGTERM")
    assert agent.wait(timeout=20)["StatusCode"] == 0
    assert etcd.items(root + "/") == {}


def test_docker_stop_ends_it_within_seconds(image, docker_client, docker_url, etcd_server, etcd, root):
    agent = run_agent(docker_client, image, docker_url, etcd_server.url, root, "stop-host")
    wait_until(lambda: etcd.get(f"{root}/agents/stop-host") is not None, timeout=30, what="the agent's marker")
    started = time.monotonic()
    agent.stop(timeout=10)
    took = time.monotonic() - started
    assert agent.wait(timeout=5)["StatusCode"] == 0
    assert took < 5, f"docker stop took {took:.1f}s"
    assert etcd.items(root + "/") == {}


# Run by the image's own interpreter: the agent's every module and its dependencies import (with gevent's patching
# first, as `python -m agent` does), TLS and hashing work, and what must not be there is not.
INSIDE = """
import importlib, importlib.util, json, os, pkgutil, ssl, hashlib, sys
from gevent import monkey
monkey.patch_all()
import agent
modules = [m.name for m in pkgutil.walk_packages(agent.__path__, "agent.")]
for name in modules + ["gevent", "docker", "etcd3gw", "backoff", "requests", "prometheus_client", "urllib3",
                       "certifi", "futurist", "debtcollector", "zope.interface", "greenlet", "charset_normalizer"]:
    importlib.import_module(name)
ssl.create_default_context().load_verify_locations(importlib.import_module("certifi").where())
hashlib.sha256(b"").hexdigest()
paths = ["/bin/sh", "/usr/bin/apt-get", "/usr/bin/dpkg", "/var/lib/dpkg", "/usr/share/locale", "/usr/lib/locale",
         "/usr/share/man", "/etc/ssl/certs", "/opt/venv/bin/pip"]
docs = [os.path.join(d, f) for d, _, files in os.walk("/usr/share/doc") for f in files]
print(json.dumps({"modules": len(modules), "python": sys.version.split()[0], "executable": sys.executable,
                  "installers": [n for n in ("pip", "setuptools", "pkg_resources", "ensurepip", "wheel")
                                 if importlib.util.find_spec(n)],
                  "present": [p for p in paths if os.path.lexists(p)],
                  "not_copyright": [d for d in docs if not d.endswith("/copyright")]}))
"""


def test_the_image_holds_only_what_the_agent_runs(image, dockerd_client):
    measured = size(dockerd_client, image)
    assert measured <= MAX_SIZE, f"the image is {measured / 1e6:.1f} MB, over {MAX_SIZE / 1e6:.0f} MB"
    output = dockerd_client.containers.run(image, entrypoint=["python", "-c", INSIDE], remove=True,
                                           labels={TEST_LABEL: RUN_ID}, network_mode="none")
    found = json.loads(output)
    assert found["modules"] > 50 and found["python"].startswith("3.11") and found["executable"] == \
        "/opt/venv/bin/python", found
    assert found["installers"] == [] and found["present"] == [] and found["not_copyright"] == [], found
    config = dockerd_client.api.inspect_image(image)["Config"]
    assert config["Entrypoint"] == ["tini", "--", "python", "-m", "agent"]
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "-m", "agent", "healthcheck"]


def test_the_image_over_tls_as_a_user_that_is_not_root(image, docker_client, docker_url, tmp_path, root):
    """As README says: any user in the socket's group, on a read-only root filesystem; etcd over TLS with a client
    certificate, the files given by EC_REGISTRATOR_ETCD_CA/_CERT/_KEY (the image has no system CA store); etcd
    named `localhost`, so the name is resolved in the image (nsswitch.conf, /etc/hosts)."""
    tls = make_tls(tmp_path / "tls")
    for path in [tls.ca.parent, *tls.ca.parent.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    member = start_etcd(tmp_path, tls=tls)
    try:
        etcd = EtcdClient(member.url, **member.client_options)
        # the socket file itself: the private daemon's folder is root's alone (/var/run is not)
        socket = docker_url.removeprefix("unix://")
        group = os.stat(socket).st_gid
        agent = run_agent(docker_client, image, docker_url, f"https://localhost:{member.client_port}", root,
                          "tls-image-host", user=f"65534:{group}", read_only=True,
                          volumes={str(tls.ca.parent): {"bind": "/tls", "mode": "ro"},
                                   socket: {"bind": "/run/docker.sock", "mode": "ro"}},
                          EC_REGISTRATOR_DOCKER_SOCKET="/run/docker.sock", EC_REGISTRATOR_ETCD_CA=f"/tls/{tls.ca.name}",
                          EC_REGISTRATOR_ETCD_CERT=f"/tls/{tls.client_cert.name}",
                          EC_REGISTRATOR_ETCD_KEY=f"/tls/{tls.client_key.name}")
        try:
            wait_until(lambda: etcd.get(f"{root}/agents/tls-image-host") is not None, timeout=30,
                       what="the agent's marker over TLS")
            wait_until(lambda: docker_client.api.inspect_container(agent.id)["State"]["Health"]["Status"]
                       == "healthy", timeout=60, what="HEALTHCHECK healthy as uid 65534")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{agent.logs().decode()[-3000:]}") from None
        inspect = docker_client.api.inspect_container(agent.id)
        assert (inspect["Config"]["User"], inspect["HostConfig"]["ReadonlyRootfs"]) == (f"65534:{group}", True)
        agent.kill(signal="SIGTERM")
        assert agent.wait(timeout=20)["StatusCode"] == 0, agent.logs().decode()[-2000:]
        assert etcd.items(root + "/") == {}
    finally:
        member.kill()
