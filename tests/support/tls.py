"""Certificates made by the tests (trustme): a CA, etcd's server certificate, our client certificate."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsSet:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    expired_cert: Path
    expired_key: Path


def make_tls(folder: Path) -> TlsSet:
    folder.mkdir(parents=True, exist_ok=True)
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("service-registrator")
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    expired = ca.issue_cert("service-registrator", not_before=past - datetime.timedelta(days=1), not_after=past)
    files = {
        "ca": ca.cert_pem, "other_ca": other.cert_pem,
        "server_cert": server.cert_chain_pems[0], "server_key": server.private_key_pem,
        "client_cert": client.cert_chain_pems[0], "client_key": client.private_key_pem,
        "expired_cert": expired.cert_chain_pems[0], "expired_key": expired.private_key_pem,
    }
    paths = {}
    for name, blob in files.items():
        path = folder / f"{name}.pem"
        blob.write_to_path(str(path))
        paths[name] = path
    return TlsSet(**paths)
