"""`status --serve [ADDR]`: one web page of the registry, served by this process (page.html, page.js, page.css
beside this module: no build step, no CDN), and its one JSON query `/api/view`, a long poll that answers when
the registry changed. Read-only (GET alone). Loopback by default; bound to loopback it answers only requests
naming a loopback host, so a web site cannot read the registry through a browser's DNS (rebinding).

The page renders every name from etcd as text; the Content-Security-Policy forbids any script but page.js."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import parse_qs

import gevent
import gevent.event
import gevent.pool

from agent.adapters.etcd import Etcd
from agent.adapters.http import MAX_CONNECTIONS, BoundedServer
from agent.status.live.follower import LiveRegistry
from agent.status.live.snapshot import HOSTS_TAB, TABS, page_of
from agent.status.settings import StatusConfig

log = logging.getLogger(__name__)

LONG_POLL = 8.0  # seconds a query waits for a change (below the server's 10 s deadline per connection)
HERE = Path(__file__).parent
FILES = {"/": ("page.html", "text/html"), "/page.js": ("page.js", "text/javascript"),
         "/page.css": ("page.css", "text/css")}
SECURITY = [("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
             "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
            ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store")]
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
Reply = tuple[str, str, bytes]  # status line, content type, body


class WebView:
    """The WSGI application of the page and its query."""

    def __init__(self, live: LiveRegistry, loopback_only: bool) -> None:
        self._live = live
        self._loopback_only = loopback_only
        self._files = {path: (kind, (HERE / name).read_bytes()) for path, (name, kind) in FILES.items()}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        code, kind, body = self.reply(environ)
        start_response(code, [("Content-Type", f"{kind}; charset=utf-8"), ("Content-Length", str(len(body))),
                              *SECURITY])
        return [body]

    def reply(self, environ: dict) -> Reply:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"read-only\n"
        if self._loopback_only and not loopback_host(environ.get("HTTP_HOST", "")):
            return "403 Forbidden", "text/plain", b"served to loopback names only\n"
        if path in self._files:
            kind, body = self._files[path]
            return "200 OK", kind, body
        if path == "/favicon.ico":
            return "204 No Content", "image/x-icon", b""
        if path == "/api/view":
            return "200 OK", "application/json", self.view(parse_qs(environ.get("QUERY_STRING", "")))
        return "404 Not Found", "text/plain", b"not found\n"

    def view(self, query: dict[str, list[str]]) -> bytes:
        def first(name: str, default: str) -> str:
            return (query.get(name) or [default])[0]

        asked = first("tab", HOSTS_TAB)
        tab = asked if asked in TABS else HOSTS_TAB
        after, page = number(first("after", "0"), 0), number(first("page", "1"), 1)
        snapshot = self._live.wait_newer(after, LONG_POLL if self._live.snapshot.version else 1.0)  # reading: news
        document = {**page_of(snapshot, tab, first("q", "")[:200], page), "reading": self._live.read_keys,
                    "problem": self._live.trouble}
        return json.dumps(document).encode()  # ASCII: every other character as \\uXXXX


def number(text: str, default: int) -> int:
    """A query's whole number; `default` for anything else (a thousand digits included)."""
    return int(text) if text.isdigit() and len(text) <= 12 else default


def loopback_host(header: str) -> bool:
    """A Host header (or an address to listen on) naming a loopback address or localhost, with or without a
    port."""
    if header.startswith("["):
        name = header[:header.find("]") + 1]
    else:
        name = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(config: StatusConfig, unreadable: tuple[type[Exception], ...], prog: str) -> int:
    """Serve until SIGINT or SIGTERM; exit 0, or 1 when the address cannot be listened on."""
    assert config.serve is not None
    host, port = config.serve
    live = LiveRegistry(Etcd.from_config(config), config, unreadable)
    loopback = loopback_host(host)
    if not loopback:
        log.warning("the web page is served beyond this machine (%s): anyone who reaches it reads the registry", host)
    server = BoundedServer((host, port), WebView(live, loopback), spawn=gevent.pool.Pool(MAX_CONNECTIONS), log=None,
                           error_log=log)
    try:
        server.start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"{prog}: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 1
    stopped = gevent.event.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(number, stopped.set)
    follower = gevent.spawn(live.run)
    log.info("serving the registry's web page on http://%s:%d/ (read-only)", *server.address[:2])
    stopped.wait()
    log.info("stopping the web page")
    server.stop(timeout=1)
    follower.kill()
    live.stop()
    return 0
