"""The agent's arbiter (agent/runtime/arbiter.py): its signals, its greenlets, and how it starts and stops."""

from __future__ import annotations

import datetime
import logging
import signal

import gevent
import gevent.queue

from agent import __version__, metrics
from agent.adapters.docker_engine import Docker
from agent.adapters.etcd import REQUEST_TIMEOUT, Etcd
from agent.adapters.etcd_connection import Members
from agent.core.hoststate import HostTakenOver
from agent.core.marker import RUNNING, STOPPED, Marker, marker_key
from agent.core.messages import HoldersSilent, LeaseLost, Message, Resync, Shutdown, Wipe
from agent.daemon.events import EventFollower
from agent.daemon.holders import HolderWatch, round_time
from agent.daemon.inspector import Inspector, Silence
from agent.daemon.lease import Heartbeat, HostLease
from agent.daemon.settings import Config, host_name
from agent.daemon.watches import WatchSet, follow_nothing
from agent.daemon.writer import Writer
from agent.layouts.registry import build_layouts
from agent.runtime.arbiter import Arbiter, Crash, Exit, HttpSettings
from agent.runtime.waiting import FATAL, wait_for
from agent.settings import ConfigError

log = logging.getLogger(__name__)

# How long SIGTERM / SIGINT wait for the writer to do what they promise before the lease's owner does it
# (SPEC §6: answered within a second whatever a dependency does). With TTL 0 there is no lease to revoke: the
# writer deletes the host's keys itself, and is given longer.
SHUTDOWN_GRACE = 0.75
SHUTDOWN_TIMEOUT = 8.0


class Agent(Arbiter):
    SIGNALS = {signal.SIGTERM: "term", signal.SIGINT: "int", signal.SIGHUP: "hup", signal.SIGUSR2: "usr2"}

    def __init__(self, config: Config) -> None:
        super().__init__(HttpSettings(config.http_addr, "EC_REGISTRATOR_HTTP_ADDR", metrics.render))
        self.config = config
        self.writer_inbox: gevent.queue.Queue = gevent.queue.Queue()
        self.writer: Writer | None = None
        self.heartbeat: Heartbeat | None = None
        self.lease: HostLease | None = None
        self.members = Members(config.etcd_endpoints)
        self.follower: EventFollower | None = None
        self.inspector: Inspector | None = None
        self.holder_watch: HolderWatch | None = None

    # -- signals -----------------------------------------------------------------------------------
    def handle_hup(self) -> None:
        log.info("SIGHUP: rewriting this host's keys from Docker")
        self.submit(Resync("SIGHUP"))

    def handle_usr2(self) -> None:
        log.warning("SIGUSR2: wiping every layout root, all hosts, then registering again")
        self.submit(Wipe())

    def handle_term(self) -> int:
        log.info("SIGTERM: removing this host's keys and exiting")
        return self._shutdown(revoke=True)

    def handle_int(self) -> int:
        log.info("SIGINT: exiting, keys left in place")
        return self._shutdown(revoke=False)

    def handle_exit(self, code: int) -> int:
        self._kill_all()
        return code

    def handle_crash(self, crash: Crash) -> int:
        """Another agent took the host over: stop at once, touching nothing. Any other failure: leave the
        keys in place with the marker `stopped`, as SIGINT does, so a restart adopts them; exit 1."""
        if isinstance(crash.error, HostTakenOver):
            log.error("%s", crash.error)
            self._kill_all()
            return 1
        log.error("%s stopped unexpectedly: %r; leaving the keys in place for a restart to adopt", crash.name,
                  crash.error)
        self._shutdown(revoke=False)
        return 1

    def submit(self, message: Message) -> None:
        self.writer_inbox.put(message)

    def status(self) -> dict[str, float]:
        """Figures for /metrics and /readyz: ready = first sync done, etcd in step, lease kept alive within
        the TTL, Docker's event stream open, Docker answering within EC_REGISTRATOR_DOCKER_TIMEOUT."""
        writer = self.writer.status() if self.writer else {}
        connected = bool(self.follower and self.follower.connected)
        answering = bool(self.inspector and self.inspector.silence.answering())
        lease_fresh = bool(self.lease and self.writer and self.lease.fresh())
        ready = bool(writer.get("in_sync")) and connected and answering and lease_fresh
        return {**writer, "docker_events_connected": float(connected), "docker_answering": float(answering),
                "lease_fresh": float(lease_fresh), "ready": float(ready)}

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._start()
        except FATAL as exc:
            log.error("cannot use etcd: %s", exc)
            self.inbox.put(Exit(2))

    def _start(self) -> None:
        """Docker, host name, etcd, the host's lease, then the greenlets: heartbeat first, writer last."""
        config = self.config
        docker = wait_for(f"Docker at {config.docker_url}", lambda: Docker(config.docker_url, config.docker_timeout))
        host = self._host_name(docker)
        if host is None:
            return
        layouts = build_layouts(config.setting_values(), host)
        etcd = self._etcd()
        endpoints = wait_for(f"etcd at {', '.join(map(str, config.etcd_endpoints))}", etcd.discover_members)
        log.info("etcd endpoints: %s", ", ".join(map(str, endpoints)))
        key = marker_key(config.etcd_dir, host)
        lease = self._claim(key, host)
        if config.ttl:
            self.heartbeat = Heartbeat(lease, lambda lost: self.submit(LeaseLost(lost)))
            self._spawn("heartbeat", self.heartbeat.run)  # before the first bulk write: it can outlive a lease
        self.inspector = Inspector(docker, self.submit, Silence(config.docker_timeout))
        if not config.once:  # --once follows nothing: one sync, then exit
            self.follower = EventFollower(lambda: Docker(config.docker_url, config.docker_timeout),
                                          self.inspector.submit)
            wait_for("Docker's event stream", self.follower.open)
        follow = follow_nothing if config.once else WatchSet(self._etcd(), self.submit, self._spawn, self._kill).follow
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        marker = Marker(host, lease.id, RUNNING, started, __version__, address=config.setting_values()["address"])
        self.writer = Writer(self.writer_inbox, etcd, self.inspector.submit, layouts, marker, key, lease,
                             config.resync, follow)
        self._spawn("writer", self.writer.run)
        self._spawn("inspector", self.inspector.run)
        if self.follower:
            self._spawn("events", self.follower.run)
        if config.ttl and not config.once:  # with TTL 0 no lease holds a key, nothing expires
            self.holder_watch = HolderWatch(self._etcd(), self.writer.state.holder_leases,
                                            lambda leases: self.submit(HoldersSilent(leases)), round_time(config.ttl))
            self._spawn("holders", self.holder_watch.run)
        if config.once:
            self._spawn("once", self._stop_after_first_sync)

    def _stop_after_first_sync(self) -> None:
        """--once: the first full sync, then a SIGINT's exit (marker `stopped`, keys left on the lease)."""
        assert self.writer is not None
        self.writer.synced.wait()
        if self.lease and self.lease.id:
            log.warning("--once: the keys are on lease %x and expire in %ds unless an agent for this host "
                        "starts and adopts it; use EC_REGISTRATOR_TTL=0 for permanent keys", self.lease.id,
                        self.lease.granted)
        self.inbox.put(signal.SIGINT)

    def _host_name(self, docker: Docker) -> str | None:
        try:
            return host_name(self.config, lambda: wait_for("Docker's name", docker.engine_name))
        except ConfigError as exc:
            log.error("%s (set EC_REGISTRATOR_HOST)", exc)
            self.inbox.put(Exit(2))
            return None

    def _claim(self, key: str, host: str) -> HostLease:
        """The stopped or crashed agent's lease when it can be adopted, else a new one (none with TTL 0)."""
        ttl = self.config.ttl
        # under the keepalive interval TTL/3, so that a member that does not answer is left for the next one while
        # the lease holds; TTL/4 leaves a slow etcd (400 ms round trips at TTL 3: measured) its answer
        keepalive_timeout = max(0.5, min(3.0, ttl / 4))
        self.lease = HostLease(self._etcd(keepalive_timeout), ttl)
        lease = self.lease
        wait_for("a claim on the host", lambda: lease.claim(key, host))
        log.info("host %s: lease %x (TTL %ds), layouts %s", host, lease.id, lease.granted,
                 ",".join(self.config.layouts))
        return lease

    def _etcd(self, timeout: float = REQUEST_TIMEOUT) -> Etcd:
        """A client of its own (timeouts differ), on the member list every client shares."""
        return Etcd.from_config(self.config, timeout, self.members)

    def _shutdown(self, revoke: bool) -> int:
        """The writer does what the signal promises; when it cannot within the grace (busy with a long write to a
        slow etcd, say), the lease's owner does it straight away: revoke, or the marker `stopped`."""
        stopping = [name for name in self._greenlets
                    if name in ("startup", "holders", "inspector") or name.startswith(("events", "watch"))]
        for name in stopping:
            self._kill(name)
        writer = self._greenlets.get("writer")
        if self.writer is None or writer is None or writer.ready():
            self._kill_all()
            return self._revoke_unused_lease() if revoke else 0
        self.submit(Shutdown(revoke=revoke))
        grace = SHUTDOWN_GRACE if self.config.ttl else SHUTDOWN_TIMEOUT
        writer.join(timeout=grace)
        if writer.ready():
            code = self.writer.exit_code
        else:
            log.warning("the writer did not finish within %gs; doing what the signal promises through the lease", grace)
            self._kill("writer")
            code = self._keep_promise(revoke)
        self._kill_all()
        return code

    def _keep_promise(self, revoke: bool) -> int:
        """SIGTERM: revoke the lease; SIGINT: the marker `stopped` on it (TTL 0: nothing left to do here)."""
        assert self.lease is not None and self.writer is not None
        if not self.lease.id:
            log.error("%s: this host's keys could not be updated before exit", "SIGTERM" if revoke else "SIGINT")
            return 1
        if revoke:
            return 0 if self.lease.release("SIGTERM") else 1
        state = self.writer.state
        return 0 if self.lease.mark(state.marker_key, state.marker.with_state(STOPPED).encode(), "SIGINT") else 1

    def _revoke_unused_lease(self) -> int:
        """SIGTERM before the writer ran: a lease already claimed (adopted, with its keys) goes too."""
        if not (self.lease and self.lease.id):
            return 0
        return 0 if self.lease.release("SIGTERM") else 1

    def _kill_all(self) -> None:
        if self.heartbeat:
            self.heartbeat.stop()
        if self.holder_watch:
            self.holder_watch.stop()
        if self.http:
            self.http.stop()
        self._kill_greenlets()
