"""Configuration: CLI flag > environment variable (or its seed alias) > default (SPEC §2).

The agent's own settings are here; each layout declares its own in its module (`LAYOUT`, see
agent/layouts/registry.py), and `load` adds them to the parser, reads them and runs the enabled layouts' checks.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.tlsfiles import TlsFileError, check_tls_files

if TYPE_CHECKING:
    from agent.layouts import LayoutKind

RESERVED_HOSTS = frozenset({"containers", "hosts", "labels", "agents"})
LOG_LEVELS = ("debug", "info", "warning", "error")
COMMANDS = ("run", "check", "healthcheck")
CONNECTION = frozenset({"etcd_endpoints", "etcd_cert", "etcd_key", "etcd_ca", "etcd_user", "etcd_password",
                        "etcd_password_file", "log_level", "log_format"})
DOCKER_SOCKET, PODMAN_SOCKET = "/var/run/docker.sock", "/run/podman/podman.sock"
MIN_LEASE_TTL = 2  # etcd raises shorter TTLs to its own minimum anyway


class ConfigError(Exception):
    """A bad setting: the message names the variable and the expected form."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class Config:
    docker_url: str
    etcd_endpoints: tuple[Endpoint, ...]
    etcd_cert: str | None
    etcd_key: str | None
    etcd_ca: str | None
    etcd_dir: str
    host: str | None
    ttl: int
    layouts: tuple[str, ...]
    etcd_user: str | None
    etcd_password: str | None
    resync: int
    http_addr: tuple[str, int] | None
    log_level: str
    log_format: str
    # every layout's settings by name, whether the layout is enabled or not; also read as attributes
    layout_settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    command: str = "run"
    once: bool = False
    dry_run: bool = False

    def __repr__(self) -> str:  # never print the password
        return f"Config(host={self.host!r}, etcd={[str(e) for e in self.etcd_endpoints]}, ttl={self.ttl})"

    def __getattr__(self, name: str) -> Any:
        """A layout's setting reads like a field: `config.host_ip` is `config.layout_settings["host_ip"]`."""
        settings = self.__dict__.get("layout_settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(f"'Config' object has no attribute {name!r}")


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


@dataclass(frozen=True)
class Setting:
    """One setting: the Config field it fills (`name`; a layout's setting fills `Config.layout_settings[name]`),
    its flag, its environment variable and aliases, default, help, and `parse`, which turns its text into the
    value or raises ConfigError with the one-line message. An unset setting without a default is None and is not
    parsed. `{layouts}` in the help reads as the list of layout names."""

    name: str
    flag: str
    env: str
    default: str | None
    help: str
    parse: Callable[[str], object]
    aliases: tuple[str, ...] = ()
    secret: bool = False


def optional(text: str) -> str | None:
    return text or None


def _whole(text: str) -> int | None:
    """The number `text` spells in ASCII digits, else None. Not str.isdigit, int() or re's \\d alone: they also
    take other scripts' digits ('٣' is 3), and isdigit takes '²', which int() refuses."""
    try:
        return int(text) if text.isascii() and text.isdigit() else None
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        return None


def _port(text: str, lowest: int) -> int | None:
    port = _whole(text)
    return port if port is not None and lowest <= port < 65536 else None


def _seconds(name: str, text: str) -> int:
    seconds = _whole(text.strip())
    if seconds is None:
        raise ConfigError(f"{name}: expected a whole number of seconds (0 or more), got {text!r}")
    return seconds


def _ttl(text: str) -> int:
    ttl = _seconds("EC_REGISTRATOR_TTL", text)
    if 0 < ttl < MIN_LEASE_TTL:
        raise ConfigError(f"EC_REGISTRATOR_TTL: expected 0 or at least {MIN_LEASE_TTL} seconds, got {text!r}")
    return ttl


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


_ENDPOINT = re.compile(r"(?:(?P<scheme>https?)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[^/]*)/?")


def _endpoints(text: str) -> tuple[Endpoint, ...]:
    """Endpoints as written; scheme "" where none is given (load() makes it http or https)."""
    endpoints = []
    for item in (part.strip() for part in text.split(",")):
        match = _ENDPOINT.fullmatch(item)
        port = _port(match["port"], 1) if match else None
        if match is None or port is None:
            raise ConfigError("EC_REGISTRATOR_ETCD_HOSTS: expected a comma list of host:port or "
                              f"http(s)://host:port, got {text!r}")
        endpoints.append(Endpoint(match["scheme"] or "", match["host"].strip("[]"), port))
    return tuple(endpoints)


def root_dir(name: str, text: str) -> str:
    """`registry`, `/registry` and `/registry/` all name the root `/registry`."""
    parts = [part for part in text.split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        raise ConfigError(f"{name}: expected a directory name such as 'registry', got {text!r}")
    return "/" + "/".join(parts)


def layout_kinds() -> tuple[LayoutKind, ...]:
    """The layout registry. Imported on first use: the layout modules import this one for `Setting`."""
    from agent.layouts.registry import LAYOUTS

    return LAYOUTS


def _layout_names() -> str:
    return ", ".join(kind.name for kind in layout_kinds())


def _layouts(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",")))
    known = {kind.name for kind in layout_kinds()}
    if not names or any(name not in known for name in names):
        raise ConfigError(f"EC_REGISTRATOR_LAYOUTS: expected a comma list of {_layout_names()}, got {text!r}")
    return names


def http_addr(name: str, text: str) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    number = _port(port, 0)
    if number is None:
        raise ConfigError(f"{name}: expected host:port or empty, got {text!r}")
    return host.strip("[]") or "0.0.0.0", number


def _choice(name: str, choices: tuple[str, ...], text: str) -> str:
    value = text.lower()
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {text!r}")
    return value


# the agent's own settings; all_settings() adds the layouts' own after EC_REGISTRATOR_LAYOUTS
SETTINGS = (
    Setting("docker_url", "--docker-socket", "EC_REGISTRATOR_DOCKER_SOCKET", DOCKER_SOCKET,
            "Docker (or Podman) socket path; unset, on a host without /var/run/docker.sock: Podman's "
            "/run/podman/podman.sock, else $XDG_RUNTIME_DIR/podman/podman.sock; DOCKER_HOST (tcp:// or unix://), "
            "when set, wins", _docker_socket),
    Setting("etcd_endpoints", "--etcd-hosts", "EC_REGISTRATOR_ETCD_HOSTS", "localhost:2379",
            "comma list of host:port or http(s)://host:port", _endpoints, ("EC_ETCD_HOSTS", "ETCD_HOST")),
    Setting("etcd_cert", "--etcd-cert", "EC_REGISTRATOR_ETCD_CERT", None, "TLS client certificate file (implies https)",
            optional),
    Setting("etcd_key", "--etcd-key", "EC_REGISTRATOR_ETCD_KEY", None, "TLS client key file (implies https)",
            optional),
    Setting("etcd_ca", "--etcd-ca", "EC_REGISTRATOR_ETCD_CA", None, "TLS CA chain file (implies https)", optional),
    Setting("etcd_dir", "--etcd-dir", "EC_REGISTRATOR_ETCD_DIR", "registry", "root directory of the ec layout",
            partial(root_dir, "EC_REGISTRATOR_ETCD_DIR")),  # the agent's: its marker lives under the ec root
    Setting("host", "--host", "EC_REGISTRATOR_HOST", None,
            "host name the containers are filed under (default: Docker engine's name)",
            partial(check_host, source="EC_REGISTRATOR_HOST"), ("EC_HOST",)),
    Setting("ttl", "--ttl", "EC_REGISTRATOR_TTL", "30", "lease TTL in seconds; 0 = no lease, keys are permanent", _ttl),
    Setting("layouts", "--layouts", "EC_REGISTRATOR_LAYOUTS", "ec", "comma list of layouts: {layouts}", _layouts),
    Setting("etcd_user", "--etcd-user", "EC_REGISTRATOR_ETCD_USER", None, "etcd user name", optional),
    Setting("etcd_password", "--etcd-password", "EC_REGISTRATOR_ETCD_PASSWORD", None, "etcd password", optional,
            secret=True),
    # not a Config field: load() reads the file into etcd_password
    Setting("etcd_password_file", "--etcd-password-file", "EC_REGISTRATOR_ETCD_PASSWORD_FILE", None,
            "file holding the etcd password", optional),
    Setting("resync", "--resync", "EC_REGISTRATOR_RESYNC", "60",
            "seconds between full anti-entropy comparisons; 0 = off", partial(_seconds, "EC_REGISTRATOR_RESYNC")),
    Setting("http_addr", "--http-addr", "EC_REGISTRATOR_HTTP_ADDR", "0.0.0.0:9479",
            "address of /metrics, /healthz, /readyz; empty = off", partial(http_addr, "EC_REGISTRATOR_HTTP_ADDR")),
    Setting("log_level", "--log-level", "EC_REGISTRATOR_LOG_LEVEL", "info", "debug, info, warning or error",
            partial(_choice, "EC_REGISTRATOR_LOG_LEVEL", LOG_LEVELS)),
    Setting("log_format", "--log-format", "EC_REGISTRATOR_LOG_FORMAT", "text", "text or json",
            partial(_choice, "EC_REGISTRATOR_LOG_FORMAT", ("text", "json"))),
)


def all_settings() -> tuple[Setting, ...]:
    """The agent's settings with every layout's own after EC_REGISTRATOR_LAYOUTS (the --help order)."""
    after = [setting.name for setting in SETTINGS].index("layouts") + 1
    return SETTINGS[:after] + tuple(setting for kind in layout_kinds() for setting in kind.settings) + SETTINGS[after:]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="service-registrator",
        description="Registers this Docker host's running containers in etcd v3 under one host lease.",
        epilog="Signals: SIGINT stop (keys kept), SIGTERM stop and remove this host's keys, "
        "SIGHUP rewrite this host's keys, SIGUSR2 wipe every layout root and re-register.",
    )
    parser.add_argument("command", nargs="?", choices=COMMANDS, default="run",
                        help="run (default): the agent; check: validate the configuration, reach Docker and etcd, "
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


def add_flags(parser: argparse.ArgumentParser, settings: Sequence[Setting]) -> None:
    for setting in settings:
        default = "(unset)" if setting.default is None or setting.secret else setting.default
        names = ", ".join((setting.env,) + setting.aliases)
        text = setting.help.replace("{layouts}", _layout_names())
        parser.add_argument(setting.flag, dest=setting.env, metavar="VALUE",
                            help=f"{text} [env {names}; default {default}]")


def raw_settings(flags: Mapping[str, object], environ: Mapping[str, str],
                 settings: Sequence[Setting] | None = None) -> dict[str, str | None]:
    """Each setting's text, taken from its flag, else its variable, else an alias, else the default."""
    raw: dict[str, str | None] = {}
    for setting in all_settings() if settings is None else settings:
        value = flags.get(setting.env)
        assert value is None or isinstance(value, str)
        for name in (setting.env,) + setting.aliases:
            if value is None:
                value = environ.get(name)
        raw[setting.env] = setting.default if value is None else value
    return raw


def load(argv: Sequence[str], environ: Mapping[str, str]) -> Config:
    flags = vars(build_parser().parse_args(list(argv)))
    raw = raw_settings(flags, environ)
    values: dict[str, Any] = {}
    if environ.get("DOCKER_HOST"):  # wins over the socket setting, which is then not read at all
        values["docker_url"] = _docker_host(environ["DOCKER_HOST"])
    elif flags.get("EC_REGISTRATOR_DOCKER_SOCKET") is None and "EC_REGISTRATOR_DOCKER_SOCKET" not in environ:
        values["docker_url"] = "unix://" + default_socket(environ)
    values.update(parse_settings(all_settings(), raw, skip=set(values)))
    own = {setting.name for kind in layout_kinds() for setting in kind.settings}
    values["layout_settings"] = {name: values.pop(name) for name in own}
    connect_values(values)
    config = Config(**values, command=str(flags["command"]), once=bool(flags["once"]), dry_run=bool(flags["dry_run"]))
    _check_needs(config)
    return config


def parse_settings(settings: Sequence[Setting], raw: Mapping[str, str | None],
                   skip: Collection[str] = ()) -> dict[str, Any]:
    """Each setting's value by name (None when unset without a default); raises the first ConfigError."""
    return {setting.name: None if raw[setting.env] is None else setting.parse(str(raw[setting.env]))
            for setting in settings if setting.name not in skip}


def connect_values(values: dict[str, Any]) -> None:
    """The etcd connection settings made whole, in place: the password file read into the password, the
    scheme of endpoints written without one (https when any TLS file is given), and what needs what checked:
    a user for a password, TLS files that the first request would not refuse."""
    password_file = values.pop("etcd_password_file")
    if password_file:
        values["etcd_password"] = _read_password(password_file)
    scheme = "https" if values["etcd_cert"] or values["etcd_key"] or values["etcd_ca"] else "http"
    values["etcd_endpoints"] = tuple(replace(endpoint, scheme=endpoint.scheme or scheme)
                                     for endpoint in values["etcd_endpoints"])
    if values["etcd_password"] and not values["etcd_user"]:
        raise ConfigError("EC_REGISTRATOR_ETCD_USER: expected a user name when a password is given")
    try:
        check_tls_files(values["etcd_cert"], values["etcd_key"], values["etcd_ca"])
    except TlsFileError as exc:
        raise ConfigError(str(exc)) from None


def load_command(parser: argparse.ArgumentParser, settings: Sequence[Setting], argv: Sequence[str],
                 environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A command beside the agent (`discover`, `status`): its flags, and its settings' values with the etcd
    connection made whole (`connect_values`)."""
    flags = vars(parser.parse_args(list(argv)))
    values = parse_settings(settings, raw_settings(flags, environ, settings))
    connect_values(values)
    return flags, values


def command_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog)
    parser.add_argument("--version", action="version", version=f"service-registrator {__version__}")
    return parser


def connection_settings() -> tuple[Setting, ...]:
    """What every command that talks to etcd shares with the agent: endpoints, TLS, user, password, logging."""
    return tuple(setting for setting in SETTINGS if setting.name in CONNECTION)


def _read_password(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"EC_REGISTRATOR_ETCD_PASSWORD_FILE: expected a readable file ({exc.strerror})") from None


def _check_needs(config: Config) -> None:
    """What settings need of each other: each enabled layout's own check, and no two
    enabled layouts' roots nesting (of a pair, the later in registry order names its variable)."""
    enabled = [kind for kind in layout_kinds() if kind.name in config.layouts]
    for kind in enabled:
        if kind.check:
            kind.check(config)
    variables = {setting.name: setting.env for setting in all_settings()}
    for at, later in enumerate(enabled):
        for earlier in enabled[:at]:
            first, second = getattr(config, earlier.root_setting), getattr(config, later.root_setting)
            if nested(first, second):
                raise ConfigError(f"{variables[later.root_setting]}: expected a root apart from "
                                  f"{variables[earlier.root_setting]}, got {second!r} and {first!r}")


def nested(first: str, second: str) -> bool:
    """One root inside the other (or both the same)."""
    return (first + "/").startswith(second + "/") or (second + "/").startswith(first + "/")

