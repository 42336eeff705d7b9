"""`settings` (validate, contact nothing), `check` (validate, reach Docker and etcd, say what was found) and
`healthcheck` (for Docker's HEALTHCHECK)."""

from __future__ import annotations

import sys

import requests

from agent.adapters.docker_engine import Docker, DockerUnavailable
from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError
from agent.core.marker import marker_key
from agent.daemon.settings import Config, host_name
from agent.settings import ConfigError

CHECK_TIMEOUT = 5.0  # Docker and the HTTP endpoint; etcd requests take the adapter's REQUEST_TIMEOUT


def say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def settings(config: Config) -> int:
    """Every setting was valid (else `load` said which was not, exit 2): what is in force, one line."""
    say(f"settings: valid; Docker {config.docker_url}, etcd {', '.join(map(str, config.etcd_endpoints))}, "
        f"host {config.host or '(Docker engine name)'}, layouts {','.join(config.layouts)}, TTL {config.ttl}s")
    return 0


def check(config: Config) -> int:
    """0 when Docker and etcd both answer and the host name is usable, else 1."""
    host, healthy = config.host, True
    try:
        docker = Docker(config.docker_url, timeout=CHECK_TIMEOUT)
        host = host_name(config, docker.engine_name)
        say(f"docker: ok, {config.docker_url}, {len(docker.running_ids())} running containers")
    except (DockerUnavailable, ConfigError) as exc:
        say(f"docker: FAILED, {exc}")
        healthy = False
    say(f"host: {host or '(unknown: Docker did not answer)'}; layouts {', '.join(config.layouts)}; TTL {config.ttl}s")
    try:
        etcd = Etcd.from_config(config)
        version = etcd.status().get("version", "?")
        members = etcd.discover_members()
        say(f"etcd: ok, version {version}, endpoints {', '.join(map(str, members))}")
        if host:
            stored = etcd.get(marker_key(config.etcd_dir, host))
            say(f"marker: {stored.value if stored else 'none (no agent has registered this host)'}")
    except EtcdError as exc:
        say(f"etcd: FAILED, {exc}")
        healthy = False
    return 0 if healthy else 1


def healthcheck(config: Config) -> int:
    """Ask the running agent's /healthz on this machine: 0 when it answers 200."""
    if config.http_addr is None:
        print("healthcheck: EC_REGISTRATOR_HTTP_ADDR is empty, nothing to ask", file=sys.stderr)
        return 1
    host, port = config.http_addr
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        reply = requests.get(f"http://{host}:{port}/healthz", timeout=CHECK_TIMEOUT)
    except requests.RequestException as exc:
        print(f"healthcheck: no answer from {host}:{port} ({exc.__class__.__name__})", file=sys.stderr)
        return 1
    return 0 if reply.status_code == 200 else 1
