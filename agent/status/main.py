"""`service-registrator status`: read the registry (in pages at one revision: agent/status/read.py), print the
hosts and the anomalies; exit 0 when there are none, 1 when there are (or etcd cannot be read), 2 on a bad
setting. `--summary`, `--host` and `--service` read less (agent/status/read.py, agent/status/scoped.py).
agent/cli.py calls `load`, then `run`."""

from __future__ import annotations

import logging
import sys

import requests

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError, EtcdSlow
from agent.core.escape import escape_segment
from agent.status.read import Progress, read_registry
from agent.status.report import Report, printable, render_json, render_text, report_of
from agent.status.scoped import read_host_report, read_service_report
from agent.status.settings import FULL, HOST, SERVE, SERVICE, SUMMARY, StatusConfig, load
from agent.status.views import ServiceReport, render_service

log = logging.getLogger(__name__)
__all__ = ["load", "run"]

PROG = "service-registrator status"
# what reading may raise besides etcd's own errors: an answer that is not etcd's (not JSON, fields missing)
UNREADABLE = (EtcdError, requests.RequestException, ValueError, KeyError, TypeError)


def run(config: StatusConfig) -> int:
    if config.view == SERVE:
        from agent.status.live.server import serve  # gevent's server and the page: for --serve alone

        return serve(config, UNREADABLE, PROG)
    try:
        report = read_report(config)
    except UNREADABLE as exc:
        log.debug("reading etcd failed", exc_info=True)
        print(f"{PROG}: {unreadable(config, exc)}", file=sys.stderr)
        return 1
    if isinstance(report, Report) and config.view == HOST and not report.hosts:
        print(f"{PROG}: no host {printable(config.name)} in {printable(config.etcd_dir)}: no marker "
              f"{config.etcd_dir}/agents/{printable(escape_segment(config.name))} and no host index", file=sys.stderr)
        return 1
    if config.json:
        print(render_json(report), flush=True)
    else:
        print(render_service(report) if isinstance(report, ServiceReport) else render_text(report), flush=True)
    return 1 if isinstance(report, Report) and report.anomalies else 0


def unreadable(config: StatusConfig, exc: Exception) -> str:
    """The one line of an etcd that could not be read: a slow one says which request, after how long."""
    endpoints = ",".join(str(endpoint) for endpoint in config.etcd_endpoints)
    if isinstance(exc, EtcdSlow):
        return (f"etcd at {endpoints} is slow, not down: {printable(exc.request)} got no answer within "
                f"{exc.seconds:g} s")
    return f"cannot read etcd at {endpoints}: {printable(str(exc) or exc.__class__.__name__)}"


def read_report(config: StatusConfig) -> Report | ServiceReport:
    etcd = Etcd.from_config(config)
    if config.view == HOST:
        return read_host_report(etcd, config)
    if config.view == SERVICE:
        return read_service_report(etcd, config)
    with progress_line(config) as progress:
        registry, revision, leases = read_registry(etcd, config, progress)
    log.debug("read %d keys at revision %d and %d leases", registry.read, revision, len(leases))
    return report_of(registry, leases, revision, scan=config.view == FULL)


class progress_line:  # noqa: N801 - a context manager used as a function
    """On a terminal (and not with --json): "read N keys" on stderr after each page, rewritten in place and wiped
    at the end; nothing otherwise."""

    def __init__(self, config: StatusConfig) -> None:
        self.shown = sys.stderr.isatty() and not config.json and config.view in (FULL, SUMMARY)
        self.written = False

    def __enter__(self) -> Progress | None:
        return self.tell if self.shown else None

    def tell(self, keys: int) -> None:
        sys.stderr.write(f"\r{PROG}: read {keys:,} keys")
        sys.stderr.flush()
        self.written = True

    def __exit__(self, *_: object) -> None:
        if self.written:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
