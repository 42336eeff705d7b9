"""`Reloader`: the one place that renders the routes and has haproxy load them.

A change asks for a reload. The first after a quiet period (no reload for the debounce window) is applied at
once, so a container leaving is out of rotation within milliseconds; the changes that follow within the window
are gathered into one reload at its end: a burst of container changes is one or two reloads, at most one per
window. A reload happens only when the text differs from what haproxy serves. A rendering haproxy refuses
(`haproxy -c`, or the master at reload) is logged with its reason and not tried again until the routes change or
SIGHUP asks; the last good configuration keeps serving."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import gevent
import gevent.event

from agent.core.kv import KeyValue
from agent.discover import metrics
from agent.discover.haproxy import Haproxy
from agent.discover.ports import Probe, bind_problem, leave_out_unbindable
from agent.discover.render import render
from agent.discover.routes import RouteTable, Skipped, owners_of, route_table

log = logging.getLogger(__name__)

LEFT_OUT_RETRY = 5.0  # seconds between renderings while a route is left out for its port, or after an OSError


def changes(before: RouteTable, after: RouteTable) -> str:
    """What a reload changes, for its log line: routes added, removed, and whose backends changed."""
    old = {route.proxy: route for route in before.routes}
    new = {route.proxy: route for route in after.routes}
    parts = [f"added {name} ({len(new[name].backends)} backends)" for name in sorted(new.keys() - old.keys())]
    parts += [f"removed {name}" for name in sorted(old.keys() - new.keys())]
    parts += [f"changed {name} ({len(new[name].backends)} backends)" for name in sorted(old.keys() & new.keys())
              if old[name] != new[name]]
    return "; ".join(parts) or "no route changed"


class Reloader:
    def __init__(self, keys: Callable[[], Mapping[str, KeyValue]], haproxy: Haproxy, root: str, bind: str,
                 debounce: float, sleep: Callable[[float], None] = gevent.sleep, local_backends: bool = False,
                 probe: Probe = bind_problem, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._local_backends = local_backends
        self._probe = probe
        self.left_out = 0  # routes of the last rendering whose port cannot be bound here
        self._haproxy = haproxy
        self._root = root
        self._bind = bind
        self._debounce = debounce
        self._sleep = sleep
        self._clock = clock
        self._applied_at = float("-inf")  # when the last rendering was applied
        self._wanted = gevent.event.Event()
        self._forced = False
        self._refused: str | None = None  # the last rendering haproxy refused: not tried again unless forced
        self._warned: set[Skipped] = set()
        self.table = RouteTable((), ())
        self.served: str | None = None  # the configuration haproxy runs
        self.started = False

    def request(self, force: bool = False) -> None:
        """Ask for a reload (`force`: even when the rendering is unchanged or was refused)."""
        self._forced = self._forced or force
        self._wanted.set()

    def start(self) -> None:
        """Start haproxy on the current routes (on none, when haproxy refuses them)."""
        table, text = self._render()
        reason = self._haproxy.check(text)
        if reason is not None:
            self._refuse(text, reason)
            table = RouteTable((), ())
            text = render(table, self._bind, self._haproxy.listeners_socket)
        self._haproxy.install(text)
        self._haproxy.start()
        self._serve(table, text)
        self.started = True
        self._applied_at = self._clock()

    def run(self) -> None:
        while True:
            self._wanted.wait(LEFT_OUT_RETRY if self.left_out else None)  # a port left out may come free
            self.disable_leaving()
            since = self._clock() - self._applied_at
            if since < self._debounce:  # within the window of the last reload: gather until its end
                self._sleep(self._debounce - since)
            self._wanted.clear()
            force, self._forced = self._forced, False
            self.apply_or_retry(force)
            self._applied_at = self._clock()

    def disable_leaving(self) -> None:
        """Servers the routes no longer have (a container leaving at its stop signal) go out of rotation at once,
        through haproxy's runtime API, before the check and the reload that remove them."""
        now = route_table(self._root, self._keys().values(), self._local_backends, owners_of(self.table))
        kept = {(route.proxy, backend.server) for route in now.routes for backend in route.backends}
        leaving = [(route.proxy, backend.server) for route in self.table.routes for backend in route.backends
                   if (route.proxy, backend.server) not in kept]
        if leaving and self.started:
            self._haproxy.disable(leaving)

    def apply_or_retry(self, force: bool) -> str:
        """`apply`, but a failure of this process (no descriptor left: EMFILE under a flood of connections, a
        disk full) is one error line and a retry, never the reloader's end (haproxy would be stopped with it)."""
        try:
            return self.apply(force)
        except OSError as exc:
            log.error("cannot render or reload haproxy now (%s); the last good configuration keeps serving, "
                      "trying again in %gs", exc, LEFT_OUT_RETRY)
            metrics.RELOADS.labels("failed").inc()
            self._sleep(LEFT_OUT_RETRY)
            self.request(force=True)
            return "failed"

    def apply(self, force: bool = False) -> str:
        """Render, check, install and reload; the result: unchanged, refused, failed or ok."""
        table, text = self._render()
        if not force and text in (self.served, self._refused):
            return "unchanged"
        reason = self._haproxy.check(text)
        if reason is not None:
            self._refuse(text, reason)
            return "refused"
        began = time.monotonic()
        self._haproxy.install(text)
        failure = self._haproxy.reload()
        if failure is not None:
            return self._fail(text, failure)
        log.info("haproxy reloaded in %.2fs: %d routes, %d backends; %s", time.monotonic() - began,
                 len(table.routes), table.backend_count, changes(self.table, table))
        self._serve(table, text)
        return "ok"

    def _render(self) -> tuple[RouteTable, str]:
        table = route_table(self._root, self._keys().values(), self._local_backends, owners_of(self.table))
        table, self.left_out = leave_out_unbindable(table, self._bind, {route.port for route in self.table.routes},
                                                    self._probe)
        metrics.LEFT_OUT.set(self.left_out)
        self._warn(table.skipped)
        return table, render(table, self._bind, self._haproxy.listeners_socket)

    def _warn(self, skipped: tuple[Skipped, ...]) -> None:
        """One warning per skipped key, as long as it stays skipped for the same reason."""
        for item in skipped:
            if item not in self._warned:
                log.warning("skipping %r: %s", item.key, item.reason)
        self._warned = set(skipped)
        metrics.SKIPPED.set(len(skipped))

    def _refuse(self, text: str, reason: str) -> None:
        log.error("haproxy refused the new configuration, the last good one keeps serving: %s", reason)
        metrics.RELOADS.labels("refused").inc()
        self._refused = text

    def _fail(self, text: str, reason: str) -> str:
        """The master could not load it: the old workers serve on; the file goes back to what they run, so that
        a restart of haproxy runs it too."""
        log.error("haproxy could not load the new configuration, the last good one keeps serving: %s", reason)
        metrics.RELOADS.labels("failed").inc()
        self._refused = text
        if self.served is not None:
            self._haproxy.install(self.served)
        return "failed"

    def _serve(self, table: RouteTable, text: str) -> None:
        self.table, self.served, self._refused = table, text, None
        metrics.RELOADS.labels("ok").inc()
        metrics.ROUTES.set(len(table.routes))
        metrics.BACKENDS.set(table.backend_count)
        metrics.LAST_RELOAD.set_to_current_time()

