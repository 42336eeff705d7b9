"""Settings, as every command reads them (SPEC §2): CLI flag > environment variable (or a seed's alias) > default,
and a bad value is one line naming the variable and the expected form.

This module holds the machinery (`Setting`, the parsers, reading flags and environment) and the settings that
every command talking to etcd shares with the agent: the connection (`CONNECTION`) and the ec root (`ETCD_DIR`).
The agent's own table is agent/daemon/settings.py; each layout declares its own in its module; `discover` and
`status` have theirs in their folders.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from agent import __version__
from agent.tlsfiles import TlsFileError, check_tls_files

LOG_LEVELS = ("debug", "info", "warning", "error")


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
class Connection:
    """What every command that talks to etcd is configured with (`CONNECTION`, made whole by `connect_values`):
    the base of the agent's, `discover`'s and `status`'s configurations."""

    etcd_endpoints: tuple[Endpoint, ...]
    etcd_cert: str | None
    etcd_key: str | None
    etcd_ca: str | None
    etcd_user: str | None
    etcd_password: str | None = field(repr=False)  # never printed
    log_level: str
    log_format: str


@dataclass(frozen=True)
class Setting:
    """One setting: the name its value goes by (`name`: a field of the command's configuration, or of a layout's
    settings), its flag, its environment variable and aliases, default, help, and `parse`, which turns its text
    into the value or raises ConfigError with the one-line message. An unset setting without a default is None
    and is not parsed."""

    name: str
    flag: str
    env: str
    default: str | None
    help: str
    parse: Callable[[str], object]
    aliases: tuple[str, ...] = ()
    secret: bool = False


# -- parsers ---------------------------------------------------------------------------------------------


def optional(text: str) -> str | None:
    return text or None


def whole(text: str) -> int | None:
    """The number `text` spells in ASCII digits, else None. Not str.isdigit, int() or re's \\d alone: they also
    take other scripts' digits ('٣' is 3), and isdigit takes '²', which int() refuses."""
    try:
        return int(text) if text.isascii() and text.isdigit() else None
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        return None


def port_number(text: str, lowest: int) -> int | None:
    port = whole(text)
    return port if port is not None and lowest <= port < 65536 else None


def seconds(name: str, text: str, least: int = 0, off: bool = False) -> int:
    """A whole number of seconds from `least` up, or 0 too when `off` (0 = off); one wording per rule, whatever
    the value got wrong."""
    value = whole(text.strip())
    if value is None or (value < least and not (off and value == 0)):
        raise ConfigError(f"{name}: expected {seconds_rule(least, off)}, got {text!r}")
    return value


def seconds_rule(least: int, off: bool = False) -> str:
    """The rule of `seconds`, as its error and a setting's help state it."""
    if not least:
        return "a whole number of seconds, 0 or more"
    return f"{'0 or ' if off else ''}a whole number of seconds from {least} up"


def root_dir(name: str, text: str) -> str:
    """`registry`, `/registry` and `/registry/` all name the root `/registry`."""
    parts = [part for part in text.split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        raise ConfigError(f"{name}: expected a directory name such as 'registry', got {text!r}")
    return "/" + "/".join(parts)


def http_addr(name: str, text: str) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    number = port_number(port, 0)
    if number is None:
        raise ConfigError(f"{name}: expected host:port or empty, got {text!r}")
    return host.strip("[]") or "0.0.0.0", number


def boolean(name: str, text: str) -> bool:
    """true/false, yes/no, 1/0, on/off, any case."""
    value = text.strip().lower()
    if value not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
        raise ConfigError(f"{name}: expected true or false, got {text!r}")
    return value in ("true", "yes", "1", "on")


def choice(name: str, choices: tuple[str, ...], text: str) -> str:
    value = text.lower()
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {text!r}")
    return value


_ENDPOINT = re.compile(r"(?:(?P<scheme>https?)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[^/]*)/?")


def endpoints(text: str) -> tuple[Endpoint, ...]:
    """Endpoints as written; scheme "" where none is given (`connect_values` makes it http or https)."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        match = _ENDPOINT.fullmatch(item)
        port = port_number(match["port"], 1) if match else None
        if match is None or port is None:
            raise ConfigError("EC_REGISTRATOR_ETCD_HOSTS: expected a comma list of host:port or "
                              f"http(s)://host:port, got {text!r}")
        found.append(Endpoint(match["scheme"] or "", match["host"].strip("[]"), port))
    return tuple(found)


def nested(first: str, second: str) -> bool:
    """One root inside the other (or both the same)."""
    return (first + "/").startswith(second + "/") or (second + "/").startswith(first + "/")


# -- the settings every etcd command shares ----------------------------------------------------------------

ETCD_HOSTS = Setting("etcd_endpoints", "--etcd-hosts", "EC_REGISTRATOR_ETCD_HOSTS", "localhost:2379",
                     "comma list of host:port or http(s)://host:port", endpoints, ("EC_ETCD_HOSTS", "ETCD_HOST"))
ETCD_CERT = Setting("etcd_cert", "--etcd-cert", "EC_REGISTRATOR_ETCD_CERT", None,
                    "TLS client certificate file (implies https)", optional)
ETCD_KEY = Setting("etcd_key", "--etcd-key", "EC_REGISTRATOR_ETCD_KEY", None, "TLS client key file (implies https)",
                   optional)
ETCD_CA = Setting("etcd_ca", "--etcd-ca", "EC_REGISTRATOR_ETCD_CA", None, "TLS CA chain file (implies https)",
                  optional)
ETCD_USER = Setting("etcd_user", "--etcd-user", "EC_REGISTRATOR_ETCD_USER", None, "etcd user name", optional)
ETCD_PASSWORD = Setting("etcd_password", "--etcd-password", "EC_REGISTRATOR_ETCD_PASSWORD", None, "etcd password",
                        optional, secret=True)
# not a configuration field: connect_values reads the file into etcd_password
ETCD_PASSWORD_FILE = Setting("etcd_password_file", "--etcd-password-file", "EC_REGISTRATOR_ETCD_PASSWORD_FILE", None,
                             "file holding the etcd password", optional)
LOG_LEVEL = Setting("log_level", "--log-level", "EC_REGISTRATOR_LOG_LEVEL", "info", "debug, info, warning or error",
                    partial(choice, "EC_REGISTRATOR_LOG_LEVEL", LOG_LEVELS))
LOG_FORMAT = Setting("log_format", "--log-format", "EC_REGISTRATOR_LOG_FORMAT", "text", "text or json",
                     partial(choice, "EC_REGISTRATOR_LOG_FORMAT", ("text", "json")))
# the ec layout's root; the agent's own setting too, since its marker lives under it whatever layouts are enabled
ETCD_DIR = Setting("etcd_dir", "--etcd-dir", "EC_REGISTRATOR_ETCD_DIR", "registry", "root directory of the ec layout",
                   partial(root_dir, "EC_REGISTRATOR_ETCD_DIR"))

CONNECTION = (ETCD_HOSTS, ETCD_CERT, ETCD_KEY, ETCD_CA, ETCD_USER, ETCD_PASSWORD, ETCD_PASSWORD_FILE, LOG_LEVEL,
              LOG_FORMAT)


# -- reading them ------------------------------------------------------------------------------------------


def command_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog)
    parser.add_argument("--version", action="version", version=f"service-registrator {__version__}")
    return parser


def add_flags(parser: argparse.ArgumentParser, settings: Sequence[Setting]) -> None:
    for setting in settings:
        default = "(unset)" if setting.default is None or setting.secret else setting.default
        names = ", ".join((setting.env,) + setting.aliases)
        parser.add_argument(setting.flag, dest=setting.env, metavar="VALUE",
                            help=f"{setting.help} [env {names}; default {default}]")


@dataclass(frozen=True)
class Typed:
    """A setting's text and the name it was given under: the flag, the variable or an alias the user typed (the
    variable for a default), which its error names."""

    text: str | None
    named: str


def raw_settings(flags: Mapping[str, object], environ: Mapping[str, str],
                 settings: Sequence[Setting]) -> dict[str, Typed]:
    """Each setting's text, taken from its flag, else its variable, else an alias, else the default."""
    raw: dict[str, Typed] = {}
    for setting in settings:
        value = flags.get(setting.env)
        assert value is None or isinstance(value, str)
        named = setting.flag
        for name in (setting.env,) + setting.aliases:
            if value is None:
                value, named = environ.get(name), name
        raw[setting.env] = Typed(setting.default, setting.env) if value is None else Typed(value, named)
    return raw


def parse_settings(settings: Sequence[Setting], raw: Mapping[str, Typed],
                   skip: Collection[str] = ()) -> dict[str, Any]:
    """Each setting's value by name (None when unset without a default); raises the first ConfigError."""
    return {setting.name: None if raw[setting.env].text is None else _parse(setting, raw[setting.env])
            for setting in settings if setting.name not in skip}


def _parse(setting: Setting, typed: Typed) -> object:
    """The value, or the setting's one-line error naming what the user typed (`--ttl`, `EC_HOST`, …)."""
    try:
        return setting.parse(str(typed.text))
    except ConfigError as exc:
        message = str(exc)
        if typed.named != setting.env and message.startswith(setting.env + ":"):
            message = f"{typed.named} ({setting.env})" + message[len(setting.env):]
        raise ConfigError(message) from None


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
    """A command's flags, and its settings' values with the etcd connection made whole (`connect_values`)."""
    flags = vars(parser.parse_args(list(argv)))
    values = parse_settings(settings, raw_settings(flags, environ, settings))
    connect_values(values)
    return flags, values


def _read_password(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"EC_REGISTRATOR_ETCD_PASSWORD_FILE: expected a readable file ({exc.strerror})") from None
