"""What an etcd client connects with: the endpoints every client fails over between (`Members`), the TLS
files, the credentials, and TCP keepalive on its connections."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests.adapters

from agent.settings import Endpoint

KEEPALIVE_OPTIONS = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1), (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 5),
                     (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2), (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)]


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class TlsFiles:
    cert: str | None
    key: str | None
    ca: str | None


class KeepAliveAdapter(requests.adapters.HTTPAdapter):
    """TCP keepalive, so that a watch on a vanished server fails within seconds instead of hanging."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        from urllib3.connection import HTTPConnection

        kwargs["socket_options"] = HTTPConnection.default_socket_options + KEEPALIVE_OPTIONS
        super().init_poolmanager(*args, **kwargs)


class Members:
    """The endpoints every etcd client of the agent fails over between: the configured ones and the
    cluster's members as last listed. Shared, so one refresh serves every client."""

    def __init__(self, configured: Sequence[Endpoint]) -> None:
        self.configured = tuple(configured)
        self.current = self.configured

    def update(self, listed: Iterable[Endpoint]) -> None:
        self.current = tuple(dict.fromkeys([*self.configured, *listed]))
