"""`status`'s settings, in the agent's style (flag > variable > default, one-line errors, exit 2): the agent's
etcd connection settings, the ec root, the backends root, the traefik root, and `--json`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.adapters.etcd import PAGE_SIZE
from agent.layouts.backends import BACKENDS_DIR
from agent.layouts.traefik import TRAEFIK_ROOT
from agent.settings import (
    CONNECTION,
    ETCD_DIR,
    ConfigError,
    Connection,
    Setting,
    add_flags,
    command_parser,
    http_addr,
    load_command,
    nested,
)

FULL, SUMMARY, HOST, SERVICE, SERVE = "full", "summary", "host", "service", "serve"
SERVE_ADDR = "127.0.0.1:9481"


@dataclass(frozen=True)
class StatusConfig(Connection):
    etcd_dir: str
    backends_dir: str
    traefik_root: str
    json: bool = False
    view: str = FULL  # FULL, SUMMARY, HOST or SERVICE
    name: str = ""  # the host of --host, the service of --service
    page_size: int = PAGE_SIZE  # keys a range request asks for (--page-size, hidden: the tests' small pages)
    serve: tuple[str, int] | None = None  # --serve: the web page's address


def settings() -> tuple[Setting, ...]:
    """The connection settings, then the ec root (EC_REGISTRATOR_ETCD_DIR), the backends root and the traefik root
    (which has no leading `/`, so it never nests with the other two)."""
    return (*CONNECTION, ETCD_DIR, BACKENDS_DIR, TRAEFIK_ROOT)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "service-registrator status",
        "Reads the WHOLE registry once (every key under the ec, backends and traefik roots, and under the traefik "
        "root with a leading /, at one revision, and the lease of every agent marker) and prints one row per host, "
        "then what looks wrong: keys on no lease, index keys naming a missing container, markers whose lease is "
        "gone, hosts without a marker, traefik keys on a lease no marker names, traefik servers of another host's "
        "container, routers whose service has no server, keys under /<traefik root>/. An operator's command, not "
        "the per-host agent: its cost grows with the fleet.",
        "Exit status: 0 no anomalies, 1 anomalies found or etcd unreadable, 2 a bad setting.")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON document {"revision", "hosts", "anomalies"} instead of the table')
    views = parser.add_mutually_exclusive_group()
    views.add_argument("--summary", action="store_true",
                       help="the hosts' rows alone (markers, host indexes, leases): no anomaly scan, no counts of "
                            "backends, servers or routers; a second at 1,000 hosts")
    views.add_argument("--host", metavar="HOST", help="one host: its row, its containers and the anomalies of its "
                       "keys, read as its agent reads them (bounded by the host, whatever the fleet)")
    views.add_argument("--service", metavar="SERVICE", help="one service: its backends keys B/<SERVICE>/... and its "
                       "traefik servers and routers, across hosts")
    views.add_argument("--serve", metavar="ADDR", nargs="?", const=SERVE_ADDR,
                       help=f"serve a live web page of the registry on ADDR (host:port, default {SERVE_ADDR}) "
                            "until SIGINT or SIGTERM: hosts, containers, services and anomalies, updated as etcd "
                            "changes; read-only; it holds the whole registry")
    parser.add_argument("--page-size", type=page_size, default=PAGE_SIZE, help=argparse.SUPPRESS)
    add_flags(parser, settings())
    return parser


def load(argv: Sequence[str], environ: Mapping[str, str]) -> StatusConfig:
    flags, values = load_command(build_parser(), settings(), argv, environ)
    _check_apart(values["etcd_dir"], values["backends_dir"])
    view = next((view for view in (SUMMARY, HOST, SERVICE, SERVE) if flags[view] not in (None, False)), FULL)
    name = flags[view] if view in (HOST, SERVICE) else ""
    if view in (HOST, SERVICE) and (not name or (view == SERVICE and "/" in name)):
        raise ConfigError(f"--{view}: expected a {view} name, got {name!r}")
    serve = http_addr("--serve", flags[SERVE] or SERVE_ADDR) if view == SERVE else None
    if view == SERVE and flags["json"]:
        raise ConfigError("--json: not with --serve (the page's query /api/view answers JSON)")
    return StatusConfig(**values, json=bool(flags["json"]), view=view, name=name, page_size=flags["page_size"],
                        serve=serve)


def page_size(text: str) -> int:
    """--page-size: a whole number of keys, 1 or more (argparse's error, exit 2, otherwise)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of keys, 1 or more, got {text!r}")
    return int(text)


def _check_apart(ec_root: str, backends_root: str) -> None:
    """Nested roots would read one layout's keys as the other's (a backends service as an ec host)."""
    if nested(ec_root, backends_root):
        raise ConfigError(f"EC_REGISTRATOR_BACKENDS_DIR: expected a root apart from EC_REGISTRATOR_ETCD_DIR, got "
                          f"{backends_root!r} and {ec_root!r}")
