"""The agent's settings (SPEC §2): its own table, the layouts' settings after EC_REGISTRATOR_LAYOUTS, loading,
and what settings need of each other. The machinery and the shared connection settings are agent/settings.py."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import Any

from agent import __version__
from agent.layouts import registry
from agent.layouts.ec import RESERVED_HOSTS
from agent.settings import (
    ETCD_CA,
    ETCD_CERT,
    ETCD_DIR,
    ETCD_HOSTS,
    ETCD_KEY,
    ETCD_PASSWORD,
    ETCD_PASSWORD_FILE,
    ETCD_USER,
    LOG_FORMAT,
    LOG_LEVEL,
    ConfigError,
    Connection,
    Setting,
    add_flags,
    connect_values,
    http_addr,
    nested,
    parse_settings,
    raw_settings,
    seconds,
    seconds_rule,
)

COMMANDS = ("run", "check", "healthcheck", "settings")
DOCKER_SOCKET, PODMAN_SOCKET = "/var/run/docker.sock", "/run/podman/podman.sock"
MIN_LEASE_TTL = 2  # etcd raises shorter TTLs to its own minimum anyway


@dataclass(frozen=True)
class Config(Connection):
    docker_url: str
    docker_timeout: int
    etcd_dir: str
    host: str | None
    ttl: int
    layouts: tuple[str, ...]
    resync: int
    http_addr: tuple[str, int] | None
    # every layout's settings by name, whether the layout is enabled or not
    layout_settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    command: str = "run"
    once: bool = False
    dry_run: bool = False

    def __repr__(self) -> str:  # never print the password
        return f"Config(host={self.host!r}, etcd={[str(e) for e in self.etcd_endpoints]}, ttl={self.ttl})"

    def setting_values(self) -> dict[str, Any]:
        """Every setting's value by name, the agent's and the layouts': what a layout is made from."""
        own = {item.name: getattr(self, item.name) for item in fields(self) if item.name != "layout_settings"}
        return {**own, **self.layout_settings}


def check_host(host: str, source: str) -> str:
    """A host name is a path segment of its own: not empty and not one of the reserved words."""
    if not host:
        raise ConfigError(f"{source}: expected a non-empty host name")
    if host in RESERVED_HOSTS:
        raise ConfigError(f"{source}: {host!r} is reserved; expected a host name other than "
                          + ", ".join(sorted(RESERVED_HOSTS)))
    return host


def host_name(config: Config, engine_name: Callable[[], str]) -> str:
    """The configured host name, else the Docker engine's own (asked only when needed), checked."""
    return config.host or check_host(engine_name(), "Docker engine name")


def _ttl(text: str) -> int:
    return seconds("EC_REGISTRATOR_TTL", text, MIN_LEASE_TTL, off=True)


def _docker_socket(text: str) -> str:
    if not text.startswith("/"):
        raise ConfigError(f"EC_REGISTRATOR_DOCKER_SOCKET: expected an absolute socket path, got {text!r}")
    return "unix://" + text


def default_socket(environ: Mapping[str, str], exists: Callable[[str], bool] = os.path.exists) -> str:
    """/var/run/docker.sock; on a host without it, Podman's rootful socket, then the user's rootless one."""
    candidates = [DOCKER_SOCKET, PODMAN_SOCKET]
    if environ.get("XDG_RUNTIME_DIR"):
        candidates.append(f"{environ['XDG_RUNTIME_DIR']}/podman/podman.sock")
    return next((path for path in candidates if exists(path)), DOCKER_SOCKET)


def _docker_host(text: str) -> str:
    if not re.match(r"^(unix|tcp)://.+", text):
        raise ConfigError(f"DOCKER_HOST: expected tcp://host:port or unix:///path, got {text!r}")
    return text


def _layout_names() -> str:
    return ", ".join(kind.name for kind in registry.LAYOUTS)


def _layouts(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",")))
    known = {kind.name for kind in registry.LAYOUTS}
    if not names or any(name not in known for name in names):
        raise ConfigError(f"EC_REGISTRATOR_LAYOUTS: expected a comma list of {_layout_names()}, got {text!r}")
    return names


# the agent's own settings, in --help order; all_settings() adds the layouts' own after EC_REGISTRATOR_LAYOUTS
SETTINGS = (
    Setting("docker_url", "--docker-socket", "EC_REGISTRATOR_DOCKER_SOCKET", DOCKER_SOCKET,
            "Docker (or Podman) socket path; unset, on a host without /var/run/docker.sock: Podman's "
            "/run/podman/podman.sock, else $XDG_RUNTIME_DIR/podman/podman.sock; DOCKER_HOST (tcp:// or unix://), "
            "when set, wins", _docker_socket),
    Setting("docker_timeout", "--docker-timeout", "EC_REGISTRATOR_DOCKER_TIMEOUT", "10",
            "seconds a Docker request may take before it is abandoned and tried again; Docker silent this long: "
            f"/readyz 503 and one warning; {seconds_rule(1)}",
            partial(seconds, "EC_REGISTRATOR_DOCKER_TIMEOUT", least=1)),
    ETCD_HOSTS, ETCD_CERT, ETCD_KEY, ETCD_CA, ETCD_DIR,
    Setting("host", "--host", "EC_REGISTRATOR_HOST", None,
            "host name the containers are filed under (default: Docker engine's name)",
            partial(check_host, source="EC_REGISTRATOR_HOST"), ("EC_HOST",)),
    Setting("ttl", "--ttl", "EC_REGISTRATOR_TTL", "30",
            f"lease TTL: {seconds_rule(MIN_LEASE_TTL, off=True)}; 0 = no lease, keys are permanent", _ttl),
    Setting("layouts", "--layouts", "EC_REGISTRATOR_LAYOUTS", "ec", "comma list of layouts", _layouts),
    ETCD_USER, ETCD_PASSWORD, ETCD_PASSWORD_FILE,
    Setting("resync", "--resync", "EC_REGISTRATOR_RESYNC", "60",
            f"seconds between full anti-entropy comparisons ({seconds_rule(0)}); 0 = off",
            partial(seconds, "EC_REGISTRATOR_RESYNC")),
    Setting("http_addr", "--http-addr", "EC_REGISTRATOR_HTTP_ADDR", "0.0.0.0:9479",
            "address of /metrics, /healthz, /readyz; empty = off", partial(http_addr, "EC_REGISTRATOR_HTTP_ADDR")),
    LOG_LEVEL, LOG_FORMAT,
)


def all_settings() -> tuple[Setting, ...]:
    """The agent's settings with the layouts' (each one's own, then the shared ones) after EC_REGISTRATOR_LAYOUTS
    (the --help order)."""
    after = [setting.name for setting in SETTINGS].index("layouts") + 1
    layouts = replace(SETTINGS[after - 1], help=f"comma list of layouts: {_layout_names()}")
    return (*SETTINGS[:after - 1], layouts, *registry.layout_settings(), *SETTINGS[after:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="service-registrator",
        description="Registers this Docker host's running containers in etcd v3 under one host lease.",
        epilog="Signals: SIGINT stop (keys kept), SIGTERM stop and remove this host's keys, "
        "SIGHUP rewrite this host's keys, SIGUSR2 wipe every layout root and re-register.",
    )
    parser.add_argument("command", nargs="?", choices=COMMANDS, default="run",
                        help="run (default): the agent; settings: validate every setting and say what is in force, "
                        "contacting nothing; check: validate the configuration, reach Docker and etcd, "
                        "say what was found; healthcheck: ask the running agent's /healthz (for HEALTHCHECK). "
                        "Beside the agent: `service-registrator discover --help` (haproxy routes from the backends "
                        "layout) and `service-registrator status --help` (what the registry holds)")
    parser.add_argument("--version", action="version", version=f"service-registrator {__version__}")
    parser.add_argument("--once", action="store_true",
                        help="sync once and exit; leased keys expire after the TTL unless an agent adopts them")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the keys this host would write (JSON), write nothing, need no etcd")
    add_flags(parser, all_settings())
    return parser


def load(argv: Sequence[str], environ: Mapping[str, str]) -> Config:
    flags = vars(build_parser().parse_args(list(argv)))
    values: dict[str, Any] = {}
    if environ.get("DOCKER_HOST"):  # wins over the socket setting, which is then not read at all
        values["docker_url"] = _docker_host(environ["DOCKER_HOST"])
    elif flags.get("EC_REGISTRATOR_DOCKER_SOCKET") is None and "EC_REGISTRATOR_DOCKER_SOCKET" not in environ:
        values["docker_url"] = "unix://" + default_socket(environ)
    values.update(parse_settings(all_settings(), raw_settings(flags, environ, all_settings()), skip=set(values)))
    own = {setting.name for setting in registry.layout_settings()}
    values["layout_settings"] = {name: values.pop(name) for name in own}
    connect_values(values)
    config = Config(**values, command=str(flags["command"]), once=bool(flags["once"]), dry_run=bool(flags["dry_run"]))
    _check_needs(config)
    return config


def _check_needs(config: Config) -> None:
    """What settings need of each other: each enabled layout's own check, and no two
    enabled layouts' roots nesting (of a pair, the later in registry order names its variable)."""
    enabled = [kind for kind in registry.LAYOUTS if kind.name in config.layouts]
    values = config.setting_values()
    for kind in enabled:
        if kind.check:
            kind.check(values)
    variables = {setting.name: setting.env for setting in all_settings()}
    for at, later in enumerate(enabled):
        for earlier in enabled[:at]:
            first, second = values[earlier.root_setting], values[later.root_setting]
            if nested(first, second):
                raise ConfigError(f"{variables[later.root_setting]}: expected a root apart from "
                                  f"{variables[earlier.root_setting]}, got {second!r} and {first!r}")
