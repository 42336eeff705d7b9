"""`service-registrator status`: read the whole registry once, print the hosts and the anomalies; exit 0 when
there are none, 1 when there are (or etcd cannot be read), 2 on a bad setting. agent/cli.py calls `load`, then
`run`."""

from __future__ import annotations

import logging
import sys

import requests

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdError, LeaseNotFound
from agent.core.kv import LeaseInfo
from agent.status.registry import slash_root
from agent.status.report import (
    Report,
    build_report,
    leases_to_ask,
    printable,
    render_json,
    render_text,
)
from agent.status.settings import StatusConfig, load

log = logging.getLogger(__name__)
__all__ = ["load", "run"]

PROG = "service-registrator status"
# what reading may raise besides etcd's own errors: an answer that is not etcd's (not JSON, fields missing)
UNREADABLE = (EtcdError, requests.RequestException, ValueError, KeyError, TypeError)


def run(config: StatusConfig) -> int:
    try:
        report = read_report(config)
    except UNREADABLE as exc:
        log.debug("reading etcd failed", exc_info=True)
        endpoints = ",".join(str(endpoint) for endpoint in config.etcd_endpoints)
        print(f"{PROG}: cannot read etcd at {endpoints}: {printable(str(exc) or exc.__class__.__name__)}",
              file=sys.stderr)
        return 1
    print(render_json(report) if config.json else render_text(report), flush=True)
    return 1 if report.anomalies else 0


def read_report(config: StatusConfig) -> Report:
    """Every key under the roots at one revision (`/T`, a leading-slash mistake, too: same transaction), then the
    lease of every marker."""
    etcd = Etcd.from_config(config)
    roots = [config.etcd_dir, config.backends_dir, config.traefik_root]
    wrong = slash_root(config.etcd_dir, config.backends_dir, config.traefik_root)
    kvs, revision = etcd.read(prefixes=[root + "/" for root in (*roots, *([wrong] if wrong else []))])
    leases = {lease: lease_info(etcd, lease) for lease in sorted(leases_to_ask(config.etcd_dir, kvs))}
    log.debug("read %d keys at revision %d and %d leases", len(kvs), revision, len(leases))
    return build_report(config.etcd_dir, config.backends_dir, config.traefik_root, kvs, leases, revision)


def lease_info(etcd: Etcd, lease: int) -> LeaseInfo:
    try:
        return etcd.lease_info(lease)
    except LeaseNotFound:
        return LeaseInfo(0, -1)
