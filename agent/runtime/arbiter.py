"""The arbiter the agent and `discover` share (gunicorn's model): signal handlers only enqueue; `run` serves the
HTTP endpoint, spawns `start`, and dispatches whatever arrives to `handle_<signal>`, `handle_crash` or
`handle_exit`, whose return value (an exit status) ends it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.queue

from agent.adapters.http import HttpEndpoint, Render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exit:
    code: int


@dataclass(frozen=True)
class Crash:
    """A greenlet ended with an exception."""

    name: str
    error: BaseException


@dataclass(frozen=True)
class HttpSettings:
    address: tuple[str, int] | None
    variable: str  # named in the error when the address cannot be listened on
    render: Render


class Arbiter:
    SIGNALS: dict[int, str] = {}

    def __init__(self, http: HttpSettings) -> None:
        self.inbox: gevent.queue.Queue = gevent.queue.Queue()
        self._greenlets: dict[str, gevent.Greenlet] = {}
        self._http_settings = http
        self.http: HttpEndpoint | None = None

    def run(self) -> int:
        for signum in self.SIGNALS:
            gevent.signal_handler(signum, self.inbox.put, signum)
        if not self._serve_http():
            return 2
        self._spawn("startup", self.start)
        while True:
            item = self.inbox.get()
            if isinstance(item, Exit):
                return self.handle_exit(item.code)
            if isinstance(item, Crash):
                log.debug("%s failed", item.name, exc_info=item.error)
                return self.handle_crash(item)
            code = getattr(self, "handle_" + self.SIGNALS[item])()
            if code is not None:
                return code

    def start(self) -> None:
        raise NotImplementedError

    def status(self) -> dict[str, float]:
        raise NotImplementedError

    def handle_exit(self, code: int) -> int:
        raise NotImplementedError

    def handle_crash(self, crash: Crash) -> int:
        raise NotImplementedError

    def _serve_http(self) -> bool:
        settings = self._http_settings
        if settings.address is None:
            return True
        self.http = HttpEndpoint(settings.address, self.status, settings.render)
        try:
            self.http.start()
        except OSError as exc:
            log.error("%s: cannot listen on %s:%d (%s)", settings.variable, *settings.address, exc.strerror)
            return False
        return True

    def _spawn(self, name: str, run: Callable[[], object]) -> None:
        greenlet = gevent.spawn(run)
        greenlet.link_exception(lambda failed: self.inbox.put(Crash(name, failed.exception)))
        self._greenlets[name] = greenlet

    def _kill(self, name: str) -> None:
        greenlet = self._greenlets.pop(name, None)
        if greenlet is not None:
            greenlet.unlink_all()
            greenlet.kill(block=True, timeout=2)

    def _kill_greenlets(self) -> None:
        for name in list(self._greenlets):
            self._kill(name)
