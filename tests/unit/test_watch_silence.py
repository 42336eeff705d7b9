"""A watch stream that goes quiet (issue 19, defects 17 and 5): silence after etcd answered is no interruption
(re-opened at once, logged at debug); a member that never answers the watch is left for the next one."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from agent.adapters import etcd as etcd_module
from agent.adapters.etcd import Etcd
from agent.adapters.etcd_connection import Members
from agent.adapters.etcd_errors import EtcdUnavailable, WatchSilent
from agent.core.kv import WatchReply
from agent.runtime import keywatcher
from agent.runtime.keywatcher import KeyWatcher
from agent.settings import Endpoint

CREATED = b'{"result": {"header": {"revision": "7"}, "created": true}}\n'


class QuietGateway(http.server.BaseHTTPRequestHandler):
    """`/v3/watch` as the grpc-gateway streams it (chunked): the `created` reply (unless the server is told to
    say nothing), then silence."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.server.answer:  # type: ignore[attr-defined]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(CREATED), CREATED))
            self.wfile.flush()
        time.sleep(2)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway(monkeypatch):
    monkeypatch.setattr(etcd_module, "WATCH_IDLE_TIMEOUT", 0.3)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietGateway)
    server.daemon_threads = True
    server.answer = True  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def client(server: http.server.ThreadingHTTPServer) -> Etcd:
    here = Endpoint("http", "127.0.0.1", server.server_address[1])
    return Etcd(Members([here, Endpoint("http", "127.0.0.1", 9)]), None, 1.0)


def test_silence_after_the_created_reply_is_watch_silent(gateway):
    replies = []
    with pytest.raises(WatchSilent):
        for reply in client(gateway).watch("/registry/hosts/h/", 7):
            replies.append(reply)
    assert [reply.created for reply in replies] == [True]


def test_a_member_that_never_answers_the_watch_is_left_for_the_next(gateway):
    gateway.answer = False
    etcd = client(gateway)
    first = etcd.endpoint
    with pytest.raises(EtcdUnavailable) as raised:
        list(etcd.watch("/registry/hosts/h/", 7))
    assert not isinstance(raised.value, WatchSilent) and "no answer" in str(raised.value)
    assert etcd.endpoint != first


class SilentEtcd:
    """Two silent streams, then a stop: what KeyWatcher does with WatchSilent."""

    def __init__(self) -> None:
        self.opened = 0

    def watch(self, key: str, start_revision: int):
        self.opened += 1
        if self.opened > 2:
            raise KeyboardInterrupt  # ends the test's run()
        raise WatchSilent("silent")
        yield  # a generator, as the adapter's


def test_a_silent_watch_is_opened_again_at_once_without_a_warning(caplog, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(keywatcher.Backoff, "wait", lambda self: waits.append(1))
    etcd = SilentEtcd()
    watcher = KeyWatcher(etcd, "/registry/hosts/h/", lambda message: None, 7)  # type: ignore[arg-type]
    with caplog.at_level("INFO"), pytest.raises(KeyboardInterrupt):
        watcher.run()
    assert (etcd.opened, waits) == (3, [])  # opened again at once, no backoff
    assert caplog.records == []  # "a quiet registry logs nothing"


def test_a_watch_canceled_for_its_token_authenticates_again():
    """Defect 2: after an etcd restart a watch was answered `created … canceled … permission denied`, and
    reopened at once with the same dead token. The reason's gRPC code name drops the token."""
    etcd = Etcd(Members([Endpoint("http", "127.0.0.1", 9)]), None, 1.0)
    etcd._token = "dead"
    denied = {"result": {"header": {"revision": "9"}, "created": True, "canceled": True,
                         "cancel_reason": "rpc error: code = PermissionDenied desc = etcdserver: permission denied"}}
    assert etcd._watch_reply(denied).canceled and etcd._token is None
    etcd._token = "alive"
    other = {"result": {"created": True, "canceled": True, "cancel_reason": "etcdserver: mvcc: required revision"}}
    assert etcd._watch_reply(other).canceled and etcd._token == "alive"


class RefusingEtcd:
    """Every watch is created and canceled at once, as etcd answers a token it no longer knows."""

    def __init__(self) -> None:
        self.opened = 0

    def watch(self, key: str, start_revision: int):
        self.opened += 1
        if self.opened > 4:
            raise KeyboardInterrupt
        yield WatchReply(9, created=True, canceled=True)


def test_a_watch_canceled_at_once_backs_off_and_warns_once(caplog, monkeypatch):
    """It was reopened about ten times a second, with one INFO and one WARNING line each time."""
    waits: list[int] = []
    monkeypatch.setattr(keywatcher.Backoff, "wait", lambda self: waits.append(self.next_delay()))
    watcher = KeyWatcher(RefusingEtcd(), "/registry/hosts/h/", lambda message: None, 7)  # type: ignore[arg-type]
    with caplog.at_level("INFO"), pytest.raises(KeyboardInterrupt):
        watcher.run()
    assert len(waits) == 4 and waits == sorted(waits) and waits[-1] > waits[0]  # backing off, never reset
    assert [record.levelname for record in caplog.records] == ["WARNING"]


class CompactedEtcd:
    """The watch fell behind compaction: etcd answers with the compact revision, then the test stops."""

    def __init__(self) -> None:
        self.starts: list[int] = []

    def watch(self, key: str, start_revision: int):
        self.starts.append(start_revision)
        if len(self.starts) > 1:
            raise KeyboardInterrupt
        yield WatchReply(50, created=True, compact_revision=40)


def test_a_watch_behind_compaction_asks_for_a_full_comparison_and_resumes_from_it(monkeypatch):
    """Audit: a self-healing watch behind a compaction not starting a full comparison left the units green."""
    from agent.core.messages import Resync

    monkeypatch.setattr(keywatcher.Backoff, "wait", lambda self: None)
    submitted: list = []
    etcd = CompactedEtcd()
    with pytest.raises(KeyboardInterrupt):
        KeyWatcher(etcd, "/registry/hosts/h/", submitted.append, 7).run()  # type: ignore[arg-type]
    assert submitted == [Resync("watch compacted")] and etcd.starts == [7, 40]


def test_etcd_requests_ignore_proxy_and_ca_bundle_variables(gateway, monkeypatch, tmp_path):
    """Audit: honouring HTTP(S)_PROXY or REQUESTS_CA_BUNDLE left the units green. A proxy that does not
    exist is set: the watch still reaches the gateway."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(WatchSilent):
        for reply in client(gateway).watch("/registry/hosts/h/", 7):
            assert reply.created


class LeaderlessGateway(http.server.BaseHTTPRequestHandler):
    """A member cut off from its cluster, as etcd 3.4 answers (measured): with the `hasleader` metadata the watch
    is refused with code 14 `no leader`; without it, the watch is created and would never see a new write."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (b'{"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader"}}\n'
                if self.headers.get("Grpc-Metadata-hasleader") == "true" else CREATED)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_watch_requires_a_leader_and_moves_on_from_a_member_without_one():
    """Defect 5: a member in a minority partition kept serving watches without a leader."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LeaderlessGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        etcd = client(server)
        first = etcd.endpoint
        replies = list(etcd.watch("/registry/hosts/h/", 7))
        assert [reply.canceled for reply in replies] == [True]
        assert etcd.endpoint != first
    finally:
        server.shutdown()
