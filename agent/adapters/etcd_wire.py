"""etcd's grpc-gateway JSON, as the etcd adapter sends and reads it: keys and values are base64 of UTF-8 bytes
(etcd3gw would encode `str` as latin-1), numbers are strings. Pure."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from agent.core.kv import KeyValue, WatchEvent, WatchReply
from agent.core.plan import Op, Put


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def text_of(encoded: str | None) -> str:
    """The text of a base64 key or value (binascii's decoder: base64.b64decode's checks cost a third of
    reading a big registry's pages)."""
    return binascii.a2b_base64(encoded).decode("utf-8", errors="replace") if encoded else ""


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix` (last byte plus one)."""
    raw = bytearray(prefix.encode("utf-8"))
    raw[-1] += 1
    return b64(bytes(raw))


def range_request(key: str, prefix: bool, revision: int) -> dict[str, Any]:
    request = {"key": b64(key), "revision": str(revision)}
    return {"request_range": {**request, "range_end": prefix_end(key)} if prefix else request}


def page_request(start: str, prefix: str, revision: int, limit: int, keys_only: bool) -> dict[str, Any]:
    """A range request for up to `limit` keys from `start` (base64) to the end of `prefix`, at `revision`."""
    return {"key": start, "range_end": prefix_end(prefix), "revision": str(revision), "limit": str(limit),
            "keys_only": keys_only}


def key_after(encoded: str) -> str:
    """The first key after the (base64) key `encoded`: where the next page starts (its raw bytes, so a key that
    is not UTF-8 is continued after exactly)."""
    return b64(base64.b64decode(encoded) + b"\0")


def op_request(op: Op, lease: int) -> dict[str, Any]:
    if isinstance(op, Put):
        return {"request_put": {"key": b64(op.key), "value": b64(op.value), "lease": str(lease)}}
    return {"request_delete_range": {"key": b64(op.key)}}


def decode_kv(kv: dict[str, Any]) -> KeyValue:
    return KeyValue(text_of(kv.get("key")), text_of(kv.get("value")), int(kv.get("lease") or 0),
                    int(kv.get("mod_revision") or 0), int(kv.get("create_revision") or 0))


def watch_result(result: dict[str, Any]) -> WatchReply:
    """One `result` message of a watch stream."""
    events = tuple(
        WatchEvent(text_of(event["kv"].get("key")), text_of(event["kv"].get("value")),
                   int(event["kv"].get("lease") or 0), int(event["kv"].get("mod_revision") or 0),
                   event.get("type") == "DELETE", int(event["kv"].get("create_revision") or 0))
        for event in result.get("events") or [])
    return WatchReply(int((result.get("header") or {}).get("revision") or 0), events, bool(result.get("created")),
                      int(result.get("compact_revision") or 0), bool(result.get("canceled")))
