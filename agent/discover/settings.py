"""`discover`'s settings, in the agent's style (flag > variable > default, one-line errors, exit 2): the
agent's etcd connection settings and backends root, and haproxy's own."""

from __future__ import annotations

import argparse
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from agent.discover.render import SOCKET_PATH, bind_address
from agent.layouts.backends import BACKENDS_DIR
from agent.settings import (
    CONNECTION,
    ConfigError,
    Connection,
    Setting,
    add_flags,
    boolean,
    command_parser,
    http_addr,
    load_command,
)

COMMANDS = ("run", "check")
MOST_DEBOUNCE = 60.0
# haproxy 2.6 binds its master CLI socket (the configuration path + ".sock") under a longer temporary name:
# measured, a socket path of 97 bytes works, 98 fails ("Cannot create the listener of the master CLI")
MOST_SOCKET_PATH = 97
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class DiscoverConfig(Connection):
    backends_dir: str
    haproxy_bin: str
    haproxy_config: str
    bind: str
    debounce: float
    http_addr: tuple[str, int] | None
    local_backends: bool
    command: str = "run"
    once: bool = False

    def __repr__(self) -> str:  # never print the password
        return f"DiscoverConfig(etcd={[str(e) for e in self.etcd_endpoints]}, backends={self.backends_dir!r})"


def _not_empty(name: str, text: str) -> str:
    if not text.strip():
        raise ConfigError(f"{name}: expected a value, got {text!r}")
    return text.strip()


def _config_path(text: str) -> str:
    path = _not_empty("EC_REGISTRATOR_HAPROXY_CONFIG", text)
    if path.endswith("/"):
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_CONFIG: expected a file path, got {text!r}")
    path = os.path.abspath(path)
    if "," in path:  # haproxy's -S splits its argument at the first comma (socket, then bind options)
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_CONFIG: expected a path without a comma, got {text!r}")
    if not SOCKET_PATH.fullmatch(path):  # the listeners' socket, the path + .xfer, is a word of its configuration
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_CONFIG: expected a path without spaces, quotes, '\\', '#', '$' "
                          f"or control characters, got {text!r}")
    if len((path + ".sock").encode()) > MOST_SOCKET_PATH:  # .sock is the longer of its two sockets' suffixes
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_CONFIG: expected a path of at most {MOST_SOCKET_PATH - 5} bytes "
                          f"(its master socket, the path + .sock, must fit a unix socket address), got {path!r}")
    return path


def _bind(text: str) -> str:
    try:
        return bind_address(text.strip()).strip("[]")
    except ValueError:
        raise ConfigError(f"EC_REGISTRATOR_DISCOVER_BIND: expected an IP address such as 127.0.0.1, 0.0.0.0 or ::, "
                          f"got {text!r}") from None


def _debounce(text: str) -> float:
    if not (text.isascii() and _DECIMAL.fullmatch(text.strip())) or float(text) > MOST_DEBOUNCE:
        raise ConfigError(f"EC_REGISTRATOR_DISCOVER_DEBOUNCE: expected seconds from 0 to {MOST_DEBOUNCE:g}, such as "
                          f"0.5, got {text!r}")
    return float(text)


OWN = (
    Setting("haproxy_bin", "--haproxy-bin", "EC_REGISTRATOR_HAPROXY_BIN", "haproxy",
            "haproxy executable (a name on PATH or a path)", partial(_not_empty, "EC_REGISTRATOR_HAPROXY_BIN")),
    Setting("haproxy_config", "--haproxy-config", "EC_REGISTRATOR_HAPROXY_CONFIG",
            "/run/service-registrator/haproxy.cfg", "the configuration file written for haproxy (its folder is "
            "created; the master socket is this path with .sock)", _config_path),
    Setting("bind", "--bind", "EC_REGISTRATOR_DISCOVER_BIND", "127.0.0.1",
            "address every route listens on (0.0.0.0 or :: for every interface)", _bind),
    Setting("debounce", "--debounce", "EC_REGISTRATOR_DISCOVER_DEBOUNCE", "0.5",
            "seconds after a reload in which further changes are gathered into one", _debounce),
    Setting("local_backends", "--local-backends", "EC_REGISTRATOR_DISCOVER_LOCAL_BACKENDS", "false",
            "route to loopback and link-local backends too (127.0.0.0/8, ::1, 169.254.0.0/16, fe80::/10): only on a "
            "single machine, where agent, containers and discover share one loopback",
            partial(boolean, "EC_REGISTRATOR_DISCOVER_LOCAL_BACKENDS")),
    Setting("http_addr", "--http-addr", "EC_REGISTRATOR_DISCOVER_HTTP_ADDR", "0.0.0.0:9480",
            "address of /metrics, /healthz, /readyz; empty = off", partial(http_addr,
                                                                           "EC_REGISTRATOR_DISCOVER_HTTP_ADDR")),
)


def settings() -> tuple[Setting, ...]:
    return (*CONNECTION, BACKENDS_DIR, *OWN)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "service-registrator discover",
        "Routes traffic with haproxy from the backends layout: a TCP listener on <bind>:<port> for every "
        "B/<service>/<n>, balancing over the addresses registered under it. Reads (and watches) the whole "
        "backends root.",
        "Signals: SIGTERM or SIGINT stop haproxy and exit 0; SIGHUP renders and reloads again.")
    parser.add_argument("command", nargs="?", choices=COMMANDS, default="run",
                        help="run (default): follow etcd and keep haproxy routing; check: validate the settings, "
                        "read etcd, have haproxy check the rendering, say what was found")
    parser.add_argument("--once", action="store_true", help="print the haproxy configuration to stdout and exit")
    add_flags(parser, settings())
    return parser


def load(argv: Sequence[str], environ: Mapping[str, str]) -> DiscoverConfig:
    flags, values = load_command(build_parser(), settings(), argv, environ)
    config = DiscoverConfig(**values, command=str(flags["command"]), once=bool(flags["once"]))
    if not config.once:
        _check_haproxy(config)
    return config


def _check_haproxy(config: DiscoverConfig) -> None:
    """What running haproxy needs: its executable, and a folder the configuration can be written in."""
    if shutil.which(config.haproxy_bin) is None:
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_BIN: expected an haproxy executable, {config.haproxy_bin!r} "
                          "was not found")
    if os.path.isdir(config.haproxy_config):
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_CONFIG: expected a file path, {config.haproxy_config!r} is a "
                          "folder")
    folder = os.path.dirname(config.haproxy_config)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_CONFIG: cannot create {folder} ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"EC_REGISTRATOR_HAPROXY_CONFIG: cannot write in {folder}")
