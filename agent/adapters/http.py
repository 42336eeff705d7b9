"""The HTTP endpoint (EC_REGISTRATOR_HTTP_ADDR): /healthz, /readyz and /metrics.

It listens on every interface by default, so it is bounded against hostile peers: at most MAX_CONNECTIONS
handled at once (more wait in the kernel's listen backlog, holding no descriptor of the process, whose own
sockets to Docker and etcd keep their room under a 1,024 open-files limit), and each connection ends after
REQUEST_DEADLINE seconds whatever it sent (a slowloris that never finishes its headers included)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import gevent
import gevent.pool
from gevent.pywsgi import WSGIServer

from agent import metrics

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64
REQUEST_DEADLINE = 10.0  # seconds; a scrape of /metrics takes milliseconds

Status = Callable[[], dict[str, float]]
Render = Callable[[dict[str, float]], str]


class BoundedServer(WSGIServer):
    def handle(self, sock: object, address: tuple[str, int]) -> None:
        with gevent.Timeout(REQUEST_DEADLINE, False):  # the handler closes the socket as it unwinds
            super().handle(sock, address)


class HttpEndpoint:
    """Serves liveness, readiness and figures; `status` is read on every request and `render` makes the
    metrics text of it (the agent's metrics by default, `discover` has its own)."""

    def __init__(self, address: tuple[str, int], status: Status, render: Render = metrics.render) -> None:
        self._status = status
        self._render = render
        self._server = BoundedServer(address, self._app, spawn=gevent.pool.Pool(MAX_CONNECTIONS), log=None,
                                     error_log=log)

    def start(self) -> None:
        self._server.start()
        log.info("serving /metrics, /healthz, /readyz on %s:%d", *self._server.address[:2])

    def stop(self) -> None:
        self._server.stop(timeout=1)

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        status = self._status()
        if path == "/healthz":
            code, body = "200 OK", "ok\n"
        elif path == "/readyz":
            ready = bool(status.get("ready"))
            code, body = ("200 OK", "ready\n") if ready else ("503 Service Unavailable", "not ready\n")
        elif path == "/metrics":
            code, body = "200 OK", self._render(status)
        else:
            code, body = "404 Not Found", "not found\n"
        start_response(code, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
        return [body.encode()]
