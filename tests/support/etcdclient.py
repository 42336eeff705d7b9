"""A plain etcd v3 client for the tests (requests on the grpc-gateway), independent of the agent's code."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import requests


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode()


def _text(data: str | None) -> str:
    return base64.b64decode(data or "").decode("utf-8")


def _range_end(prefix: str) -> str:
    raw = bytearray(prefix.encode("utf-8"))
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


@dataclass(frozen=True)
class Stored:
    value: str
    lease: int
    create_revision: int
    mod_revision: int


class EtcdClient:
    def __init__(self, url: str, verify: str | bool = True, cert: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = verify
        self.session.cert = cert
        self.session.trust_env = verify is True  # else REQUESTS_CA_BUNDLE replaces the given CA
        self.credentials: dict[str, str] | None = None

    def login(self, user: str, password: str) -> None:
        """Authenticate now, and again whenever the token has expired."""
        self.credentials = {"name": user, "password": password}
        self.session.headers.pop("Authorization", None)
        self.session.headers["Authorization"] = self.post("auth/authenticate", self.credentials)["token"]

    def post(self, path: str, payload: dict) -> dict:
        reply = self.session.post(f"{self.url}/v3/{path}", json=payload, timeout=5)
        if reply.status_code == 401 and self.credentials and path != "auth/authenticate":
            self.login(self.credentials["name"], self.credentials["password"])
            reply = self.session.post(f"{self.url}/v3/{path}", json=payload, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def items(self, prefix: str) -> dict[str, Stored]:
        reply = self.post("kv/range", {"key": _b64(prefix), "range_end": _range_end(prefix)})
        return {
            _text(kv["key"]): Stored(_text(kv.get("value")), int(kv.get("lease", 0)),
                                     int(kv["create_revision"]), int(kv["mod_revision"]))
            for kv in reply.get("kvs", [])
        }

    def values(self, prefix: str) -> dict[str, str]:
        return {key: item.value for key, item in self.items(prefix).items()}

    def get(self, key: str) -> Stored | None:
        kvs = self.post("kv/range", {"key": _b64(key)}).get("kvs", [])
        if not kvs:
            return None
        kv = kvs[0]
        return Stored(_text(kv.get("value")), int(kv.get("lease", 0)), int(kv["create_revision"]),
                      int(kv["mod_revision"]))

    def put(self, key: str, value: str, lease: int = 0) -> None:
        self.post("kv/put", {"key": _b64(key), "value": _b64(value), **({"lease": str(lease)} if lease else {})})

    def grant(self, ttl: int) -> int:
        return int(self.post("lease/grant", {"TTL": str(ttl)})["ID"])

    def revoke(self, lease: int) -> None:
        self.post("lease/revoke", {"ID": str(lease)})

    def delete(self, key: str) -> None:
        self.post("kv/deleterange", {"key": _b64(key)})

    def lease_keys(self, lease: int) -> tuple[int, set[str]]:
        """(remaining TTL, keys attached) of a lease; TTL -1 when it does not exist."""
        reply = self.post("lease/timetolive", {"ID": str(lease), "keys": True})
        return int(reply.get("TTL", -1)), {_text(key) for key in reply.get("keys", [])}

    def revision(self) -> int:
        return int(self.post("kv/range", {"key": _b64("\0")})["header"]["revision"])
