"""`Discover`, the arbiter (agent/runtime/arbiter.py) of `service-registrator discover`. Greenlets: the follower
(etcd's backends root), the reloader (haproxy's configuration) and a watch on the haproxy master, whose exit
ends discover with status 1."""

from __future__ import annotations

import logging
import signal

from agent.adapters.etcd import Etcd
from agent.discover import metrics
from agent.discover.follower import BackendsFollower
from agent.discover.haproxy import Haproxy, HaproxyError
from agent.discover.reloader import Reloader
from agent.discover.settings import DiscoverConfig
from agent.runtime.arbiter import Arbiter, Crash, Exit, HttpSettings
from agent.runtime.waiting import FATAL, wait_for

log = logging.getLogger(__name__)



class Discover(Arbiter):
    SIGNALS = {signal.SIGTERM: "term", signal.SIGINT: "int", signal.SIGHUP: "hup"}

    def __init__(self, config: DiscoverConfig) -> None:
        super().__init__(HttpSettings(config.http_addr, "EC_REGISTRATOR_DISCOVER_HTTP_ADDR", metrics.render))
        self.config = config
        self.haproxy = Haproxy(config.haproxy_bin, config.haproxy_config)
        self.follower = BackendsFollower(Etcd.from_config(config), config.backends_dir,
                                         lambda: self.reloader.request())
        self.reloader = Reloader(lambda: self.follower.keys, self.haproxy, config.backends_dir, config.bind,
                                 config.debounce, local_backends=config.local_backends)

    # -- signals -----------------------------------------------------------------------------------
    def handle_term(self) -> int:
        log.info("SIGTERM: stopping haproxy and exiting")
        return self._stop(0)

    def handle_int(self) -> int:
        log.info("SIGINT: stopping haproxy and exiting")
        return self._stop(0)

    def handle_hup(self) -> None:
        log.info("SIGHUP: rendering the routes and reloading haproxy again")
        self.reloader.request(force=True)

    def handle_crash(self, crash: Crash) -> int:
        log.error("%s stopped: %s", crash.name, crash.error)
        return self._stop(1)

    def handle_exit(self, code: int) -> int:
        return self._stop(code)

    def status(self) -> dict[str, float]:
        """Ready: haproxy runs its first configuration and the watch follows etcd (while etcd does not answer, the
        last known routes keep serving, but they may be stale: not ready)."""
        running = bool(self.haproxy.process and self.haproxy.process.poll() is None)
        following = self.follower.following
        return {"discover_haproxy_up": float(running), "discover_etcd_following": float(following),
                "discover_etcd_revision": float(self.follower.revision),
                "ready": float(running and self.reloader.started and following)}

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """The backends root, then haproxy on its routes, then following etcd and reloading."""
        root, endpoints = self.config.backends_dir, ", ".join(map(str, self.config.etcd_endpoints))
        try:
            wait_for(f"etcd at {endpoints}", self.follower.load)
        except FATAL as exc:
            log.error("cannot use etcd: %s", exc)
            self.inbox.put(Exit(2))
            return
        self.reloader.start()
        log.info("routing %d routes, %d backends from %s on %s", len(self.reloader.table.routes),
                 self.reloader.table.backend_count, root, self.config.bind)
        self._spawn("haproxy", self._watch_haproxy)
        self._spawn("watch", self.follower.run)
        self._spawn("reloader", self.reloader.run)

    def _watch_haproxy(self) -> None:
        raise HaproxyError(f"haproxy exited with status {self.haproxy.wait()}")

    def _stop(self, code: int) -> int:
        self._kill_greenlets()
        status = self.haproxy.stop()
        if status is not None:
            log.info("haproxy stopped (status %d)", status)
        if self.http:
            self.http.stop()
        return code
