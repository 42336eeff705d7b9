"""The etcd adapter: the only module that imports etcd3gw.

etcd3gw talks to one endpoint per client and encodes `str` as latin-1, so this adapter keeps one client
per endpoint, moves to the next on connection failure, and base64-encodes UTF-8 bytes itself.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception, InternalServerError

from agent.config import Endpoint
from agent.plan import Op, Put

log = logging.getLogger(__name__)

PAGE_SIZE = 5000


class EtcdUnavailable(Exception):
    """No endpoint answered."""


class EtcdRequestError(Exception):
    """etcd answered with an error."""


class LeaseNotFound(EtcdRequestError):
    """The lease a request named has expired or was revoked."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    lease: int
    mod_revision: int


@dataclass(frozen=True)
class TlsFiles:
    cert: str | None
    key: str | None
    ca: str | None


def _b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def _text(encoded: str | None) -> str:
    return base64.b64decode(encoded or "").decode("utf-8", errors="replace")


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix` (last byte plus one)."""
    raw = bytearray(prefix.encode("utf-8"))
    raw[-1] += 1
    return _b64(bytes(raw))


def _op_request(op: Op, lease: int) -> dict[str, Any]:
    if isinstance(op, Put):
        return {"request_put": {"key": _b64(op.key), "value": _b64(op.value), "lease": str(lease)}}
    return {"request_delete_range": {"key": _b64(op.key)}}


class Etcd:
    def __init__(self, endpoints: Sequence[Endpoint], tls: TlsFiles | None, timeout: float) -> None:
        tls = tls or TlsFiles(None, None, None)
        self._clients = [
            Etcd3Client(host=e.host, port=e.port, protocol=e.scheme, ca_cert=tls.ca, cert_key=tls.key,
                        cert_cert=tls.cert, timeout=timeout, api_path="/v3/")
            for e in endpoints
        ]
        self._endpoints = list(endpoints)
        self._current = 0

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoints[self._current]

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        failure: Exception | None = None
        for _ in self._clients:
            client = self._clients[self._current]
            try:
                return client.post(client.get_url(path), json=payload)
            except (ConnectionFailedError, ConnectionTimeoutError, InternalServerError) as exc:
                failure = exc
                log.debug("etcd %s failed on %s: %s", path, self.endpoint, exc.detail_text or exc)
                self._current = (self._current + 1) % len(self._clients)
            except Etcd3Exception as exc:
                text = str(exc.detail_text or exc)
                if "lease not found" in text:
                    raise LeaseNotFound(text) from None
                raise EtcdRequestError(f"etcd {path}: {text}") from None
        raise EtcdUnavailable(f"no etcd endpoint answered ({failure.__class__.__name__})")

    def status(self) -> dict[str, Any]:
        return self._post("maintenance/status", {})

    def get(self, key: str) -> KeyValue | None:
        kvs = self._post("kv/range", {"key": _b64(key)}).get("kvs") or []
        return self._decode(kvs[0]) if kvs else None

    def get_prefix(self, prefix: str) -> list[KeyValue]:
        found: list[KeyValue] = []
        start, end = _b64(prefix), prefix_end(prefix)
        while True:
            reply = self._post("kv/range", {"key": start, "range_end": end, "limit": PAGE_SIZE})
            found.extend(self._decode(kv) for kv in reply.get("kvs") or [])
            if not reply.get("more"):
                return found
            start = _b64(found[-1].key.encode("utf-8") + b"\0")

    def delete_prefix(self, prefix: str) -> int:
        reply = self._post("kv/deleterange", {"key": _b64(prefix), "range_end": prefix_end(prefix)})
        return int(reply.get("deleted") or 0)

    def txn(self, ops: Iterable[Op], lease: int) -> None:
        self._post("kv/txn", {"success": [_op_request(op, lease) for op in ops]})

    def lease_grant(self, ttl: int) -> int:
        return int(self._post("lease/grant", {"TTL": ttl})["ID"])

    def lease_refresh(self, lease: int) -> int:
        """The lease's new TTL; 0 or less when the lease is gone."""
        reply = self._post("lease/keepalive", {"ID": str(lease)})
        return int((reply.get("result") or {}).get("TTL") or -1)

    def lease_remaining(self, lease: int) -> int:
        return int(self._post("lease/timetolive", {"ID": str(lease)}).get("TTL") or -1)

    def lease_revoke(self, lease: int) -> None:
        try:
            self._post("lease/revoke", {"ID": str(lease)})
        except LeaseNotFound:
            log.info("lease %x was already gone", lease)

    @staticmethod
    def _decode(kv: dict[str, Any]) -> KeyValue:
        return KeyValue(_text(kv.get("key")), _text(kv.get("value")), int(kv.get("lease") or 0),
                        int(kv.get("mod_revision") or 0))
