"""What each step does to the real parts. Container operations act at once; a fault that lasts (an etcd member
killed or frozen, an agent stopped) is healed at the next check, so operations and other faults happen while it
lasts. A step that does not apply (pause of a stopped container, no container yet) is recorded as skipped."""

from __future__ import annotations

import base64
import os
import signal
import time
import uuid
from collections.abc import Callable

import docker
import requests

from bench.chaos.schedule import OPERATIONS, Step
from bench.chaos.world import LABEL, ROOT, TTL, Host, World
from tests.support.servers import EtcdMember
from tests.support.waiting import wait_until

HEALTHCHECK = {"test": ["CMD-SHELL", "test -f /tmp/healthy"], "interval": 300_000_000, "retries": 1}
# every service publishes the same container ports on every host (the seed's own rule for the `port` key)
SERVICES = {"web": {"80/tcp": None}, "api": {"8080/tcp": None, "53/udp": None}, "db": {"5432/tcp": []},
            "local": {"9090/tcp": ("127.0.0.1", None)}}  # published, tcp and udp, exposed only, bound to an address
# the traefik layout (SPEC §7): web and local name their router and service alike on every host (shared
# definitions: a rule, an entrypoint list, a middleware, the server port; web's router linked to its only service),
# api only enables itself (the defaults: a service and a router named after the container, its lowest tcp port)
TRAEFIK_LABELS = {
    "web": {"traefik.enable": "true", "traefik.http.routers.web.rule": "Host(`web.chaos`)",
            "traefik.http.routers.web.entrypoints": "web,websecure",
            "traefik.http.routers.web.middlewares": "web-strip",
            "traefik.http.middlewares.web-strip.stripprefix.prefixes": "/web,/v1",
            "traefik.http.services.web.loadbalancer.server.port": "80"},
    "api": {"traefik.enable": "true"},
    "local": {"traefik.enable": "true", "traefik.http.routers.local.rule": "PathPrefix(`/local`)",
              "traefik.http.routers.local.service": "local",
              "traefik.http.services.local.loadbalancer.server.port": "9090"},
}
LABELS = [{"tier": "front"}, {"a/b": "slash", "p%c": "per%cent"}, {"ünï": "çödé ✓"}, {"empty": ""}, {}]


class EtcdRefused(Exception):
    """etcd answered a foreign party's request with an error (no leader yet, say): the step did not happen."""


class Chaos:
    def __init__(self, world: World) -> None:
        self.world = world
        self.heals: list[tuple[str, Callable[[], None]]] = []  # faults in force, and how each ends
        self.frozen_engines: set[str] = set()  # hosts whose dockerd is stopped with SIGSTOP until the next check

    def do(self, step: Step) -> str:
        """Carry the step out; what happened, one line."""
        host = self.world.hosts[step.host]
        if host.name in self.frozen_engines and (step.kind in OPERATIONS or step.kind.startswith("dockerd")):
            return "skipped (its dockerd is frozen)"  # the harness's own client would wait for it too
        action = getattr(self, "op_" + step.kind.replace("-", "_"))
        try:
            return action(host, step.slot) or "done"
        except (docker.errors.DockerException, requests.RequestException, EtcdRefused) as exc:
            return f"skipped ({exc.__class__.__name__}: {str(exc)[:80]})"

    def heal_all(self) -> None:
        while self.heals:
            _, heal = self.heals.pop(0)
            heal()

    # -- container operations -----------------------------------------------------------------------
    def op_run(self, host: Host, slot: int) -> str:
        service = list(SERVICES)[slot % len(SERVICES)]
        options = {"healthcheck": HEALTHCHECK} if slot % 4 == 0 else {}
        labels = {**LABELS[slot % len(LABELS)], **TRAEFIK_LABELS.get(service, {}), "SERVICE_NAME": service, LABEL: "1"}
        container = host.client.containers.run("srtest/busybox:latest", "sleep 100000", detach=True,
                                               name=f"chaos-{uuid.uuid4().hex[:8]}", labels=labels,
                                               ports=SERVICES[service], **options)
        host.containers.append(container)
        return f"ran {container.name} ({service})"

    def _pick(self, host: Host, slot: int) -> docker.models.containers.Container | None:
        if not host.containers:
            return None
        container = host.containers[slot % len(host.containers)]
        container.reload()
        return container

    def op_stop(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: box.stop(timeout=1))

    def op_start(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: box.start())

    def op_kill(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: box.kill())

    def op_pause(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: box.pause())

    def op_unpause(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: box.unpause())

    def op_rename(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: box.rename(f"chaos-{uuid.uuid4().hex[:8]}"))

    def op_connect(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: host.client.networks.get(host.network).connect(box))

    def op_disconnect(self, host: Host, slot: int) -> str:
        return self._act(host, slot, lambda box: host.client.networks.get(host.network).disconnect(box))

    def op_rm(self, host: Host, slot: int) -> str:
        box = self._pick(host, slot)
        if box is None:
            return "skipped (no container)"
        box.remove(force=True)
        host.containers.remove(box)
        return f"removed {box.name}"

    def op_health(self, host: Host, slot: int) -> str:
        box = self._pick(host, slot)
        if box is None or not box.attrs["Config"].get("Healthcheck") or box.status != "running":
            return "skipped (no running container with a health check)"
        healthy = "Health" in box.attrs["State"] and box.attrs["State"]["Health"].get("Status") == "healthy"
        box.exec_run("rm -f /tmp/healthy" if healthy else "touch /tmp/healthy")
        host.check_health(box.id)
        return f"{box.name} turned {'unhealthy' if healthy else 'healthy'}"

    def _act(self, host: Host, slot: int, act: Callable[[docker.models.containers.Container], object]) -> str:
        box = self._pick(host, slot)
        if box is None:
            return "skipped (no container)"
        act(box)
        return f"{box.name}"

    # -- faults ------------------------------------------------------------------------------------
    def op_member_kill(self, host: Host, slot: int) -> str:
        member = self.world.members[slot % len(self.world.members)]
        if not self._running(member) or self._down_members() >= 1:
            return "skipped (keep a quorum)"
        member.kill()
        self.heals.append((f"restart {member.name}", lambda: self._restart(member)))
        return f"killed {member.name}"

    def op_member_freeze(self, host: Host, slot: int) -> str:
        member = self.world.members[slot % len(self.world.members)]
        if not self._running(member) or self._down_members() >= 1:
            return "skipped (keep a quorum)"
        os.kill(member.process.pid, signal.SIGSTOP)
        self.world.frozen.add(member.name)
        self.heals.append((f"thaw {member.name}", lambda: self._thaw(member)))
        return f"froze {member.name}"

    def _thaw(self, member: EtcdMember) -> None:
        os.kill(member.process.pid, signal.SIGCONT)
        self.world.frozen.discard(member.name)

    def op_cluster_down(self, host: Host, slot: int) -> str:
        self.heal_all()
        for member in self.world.members:
            member.kill()
        time.sleep(TTL + 2)  # longer than a lease
        self._restart(*self.world.members)  # all at once: one alone has no quorum to be ready with
        return f"cluster down for {TTL + 2}s"

    def op_dockerd_restart(self, host: Host, slot: int) -> str:
        chosen = self._private_engine(host)
        if chosen is None:
            return "skipped (no private dockerd that is not frozen)"
        chosen.dockerd.restart()
        return f"restarted the dockerd of {chosen.name}"

    def op_dockerd_freeze(self, host: Host, slot: int) -> str:
        """A hung Docker (SIGSTOP: it takes connections and answers none) until the next check (issue 22)."""
        chosen = self._private_engine(host)
        if chosen is None:
            return "skipped (no private dockerd that is not frozen)"
        process = chosen.dockerd.process
        process.send_signal(signal.SIGSTOP)
        self.frozen_engines.add(chosen.name)

        def thaw() -> None:
            process.send_signal(signal.SIGCONT)
            self.frozen_engines.discard(chosen.name)

        self.heals.append((f"unfreeze the dockerd of {chosen.name}", thaw))
        return f"froze the dockerd of {chosen.name}"

    def _private_engine(self, host: Host) -> Host | None:
        """A host with a private dockerd that is not frozen (the test's own daemon and Podman's service are
        left alone): the host drawn if it has one, else the next that does."""
        hosts = self.world.hosts
        start = hosts.index(host)
        return next((hosts[(start + step) % len(hosts)] for step in range(len(hosts))
                     if hosts[(start + step) % len(hosts)].dockerd is not None
                     and hosts[(start + step) % len(hosts)].name not in self.frozen_engines), None)

    def op_agent_kill9(self, host: Host, slot: int) -> str:
        return self._stop_agent(host, signal.SIGKILL)

    def op_agent_sigint(self, host: Host, slot: int) -> str:
        return self._stop_agent(host, signal.SIGINT)

    def op_sighup(self, host: Host, slot: int) -> str:
        return self._signal(host, signal.SIGHUP)

    def op_sigusr2(self, host: Host, slot: int) -> str:
        return self._signal(host, signal.SIGUSR2)

    def op_foreign_delete(self, host: Host, slot: int) -> str:
        prefix = f"{ROOT}/hosts/{host.name}/"
        raw = prefix.encode()
        self._post("kv/deleterange", {"key": _b64(raw), "range_end": _b64(raw[:-1] + bytes([raw[-1] + 1]))})
        return f"deleted {prefix}"

    def op_lease_revoke(self, host: Host, slot: int) -> str:
        stored = self.world.etcd().get(f"{ROOT}/agents/{host.name}")
        if stored is None or not stored.lease:
            return "skipped (no marker)"
        self._post("lease/revoke", {"ID": str(stored.lease)})
        return f"revoked lease {stored.lease:x} of {host.name}"

    def op_compact(self, host: Host, slot: int) -> str:
        revision = self.world.etcd().revision()
        self._post("kv/compaction", {"revision": str(revision), "physical": True})
        return f"compacted at revision {revision}"

    # -- helpers -----------------------------------------------------------------------------------
    def _stop_agent(self, host: Host, signum: signal.Signals) -> str:
        if host.agent is None or host.agent.process.poll() is not None:
            return "skipped (agent not running)"
        host.agent.signal(signum)
        host.agent.wait_exit(20)
        self.heals.append((f"start the agent of {host.name}", lambda: host.start_agent(self.world.etcd_hosts)))
        return f"stopped the agent of {host.name} ({signum.name})"

    def _signal(self, host: Host, signum: signal.Signals) -> str:
        if host.agent is None or host.agent.process.poll() is not None:
            return "skipped (agent not running)"
        # an agent started again at the last check may still be importing: a SIGUSR2 or SIGHUP before it handles
        # them would end it (their default action), which is the harness's doing, not the agent's
        process = host.agent.process
        wait_until(lambda: process.poll() is not None or _handles(process.pid, signum), timeout=30,
                   what=f"the agent of {host.name} handling {signum.name}")
        host.agent.signal(signum)
        return f"{signum.name} to the agent of {host.name}"

    def _post(self, path: str, payload: dict) -> None:
        """A foreign party's request; anything but a 200 with no error in it means the step did not happen."""
        reply = requests.post(f"{self.world.etcd().url}/v3/{path}", json=payload, timeout=10)
        try:
            failed = reply.status_code != 200 or "error" in reply.json()
        except ValueError:
            failed = True
        if failed:
            raise EtcdRefused(f"etcd {path}: {reply.status_code} {reply.text[:200]}")

    def _restart(self, *members: EtcdMember) -> None:
        for member in members:
            if not self._running(member):
                member.start(",".join(f"{other.name}={other.peer_url}" for other in self.world.members))
        for member in members:
            member.wait_ready(timeout=30)

    def _down_members(self) -> int:
        return sum(not self._running(member) for member in self.world.members) + sum(
            name.startswith("thaw") for name, _ in self.heals)

    @staticmethod
    def _running(member: EtcdMember) -> bool:
        return member.process is not None and member.process.poll() is None


def _handles(pid: int, signum: signal.Signals) -> bool:
    """Whether the process has a handler for the signal now (its SigCgt mask in /proc)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            caught = next((line.split()[1] for line in status if line.startswith("SigCgt:")), "0")
    except OSError:
        return False
    return bool(int(caught, 16) >> (signum - 1) & 1)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()

