"""The HTTP endpoint against hostile peers (issue 19, defect 12): a connection that never finishes its request
is closed after the deadline, and no more than MAX_CONNECTIONS are held at once."""

from __future__ import annotations

import gevent
import gevent.socket
import pytest

from agent.adapters import http
from agent.adapters.http import HttpEndpoint


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setattr(http, "REQUEST_DEADLINE", 0.3)
    monkeypatch.setattr(http, "MAX_CONNECTIONS", 3)
    served = HttpEndpoint(("127.0.0.1", 0), lambda: {"ready": 1.0}, lambda figures: "")
    served.start()
    yield served
    served.stop()


def stalled(port: int) -> gevent.socket.socket:
    """A slowloris: a request line and one header, never the blank line that ends the headers."""
    sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return sock


def test_a_request_that_never_ends_is_closed_after_the_deadline(endpoint):
    port = endpoint._server.server_port
    sock = stalled(port)
    with gevent.Timeout(5):
        assert sock.recv(1024) == b""  # closed by the server, not by the test's timeout
    sock.close()


def test_at_most_max_connections_are_handled_and_the_endpoint_answers_again(endpoint):
    port = endpoint._server.server_port
    socks = [stalled(port) for _ in range(10)]
    gevent.sleep(0.1)
    assert 0 < len(endpoint._server.pool) <= 3
    with gevent.Timeout(10):
        reply = gevent.socket.create_connection(("127.0.0.1", port), timeout=10)
        reply.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := reply.recv(1024):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok\n")
    for sock in socks:
        sock.close()
