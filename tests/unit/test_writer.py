"""The one writer, driven command by command (no loop greenlet) against a fake etcd and a fake Docker."""

from __future__ import annotations

import json

import gevent.queue
import pytest

import agent.daemon.writer
from agent.adapters.docker_engine import DockerUnavailable
from agent.core.hoststate import HostTakenOver
from agent.core.marker import RUNNING, STOPPED, Marker, StoredMarker, marker_key
from agent.core.messages import (
    ContainerChanged,
    DockerRequest,
    HoldersSilent,
    KeysChanged,
    LeaseLost,
    Resync,
    Shutdown,
    Wipe,
)
from agent.core.plan import Delete, Put
from agent.daemon.holders import HolderWatch
from agent.daemon.inspector import Inspector, Silence
from agent.daemon.lease import Claim, HostLease, takeover_silence
from agent.daemon.writer import Writer
from agent.layouts import keys_of
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout
from agent.layouts.traefik import TraefikLayout
from agent.layouts.traefik_rule import DEFAULT_RULE, parse_rule
from agent.retry import Policy
from tests.fakes.docker import FakeDocker, container
from tests.fakes.etcd import FakeEtcd
from tests.unit.fleet import other_hosts

P, B, H, HOST_IP = "/registry", "/backends", "h1", "10.1.2.3"
RUNNING_FIXTURES = ("no_ports", "published_tcp_udp", "three_ports", "hostile_labels", "service_named",
                    "bound_address", "user_network")
NOT_REGISTRABLE = ("service_ignored", "healthcheck_starting")  # running, but ignored / not healthy yet
BOTH = ("ec", "backends")


@pytest.fixture(autouse=True)
def no_spread(monkeypatch):
    monkeypatch.setattr(agent.daemon.writer, "spread", lambda: 0.0)
    monkeypatch.setattr(agent.daemon.writer, "ETCD_WRITE", Policy(first=0.0, most=0.0))  # retries due at once


class Follow:
    """Records what the writer asks to watch, as the WatchSet does it: a prefix asked for the first time is
    watched from the revision given, until a call leaves it out (its watch then saw everything up to etcd's
    revision at that call)."""

    def __init__(self, etcd: FakeEtcd) -> None:
        self.etcd = etcd
        self.calls: list[tuple[frozenset[str], int]] = []
        self._spans: dict[str, list[list[float]]] = {}  # prefix -> [start, end] of each watch on it

    def __call__(self, prefixes: set[str], revision: int) -> None:
        self.calls.append((frozenset(prefixes), revision))
        for name, spans in self._spans.items():
            if name not in prefixes and spans[-1][1] == float("inf"):
                spans[-1][1] = self.etcd.rev
        for name in prefixes:
            spans = self._spans.setdefault(name, [])
            if not spans or spans[-1][1] != float("inf"):
                spans.append([revision, float("inf")])

    @property
    def prefixes(self) -> frozenset[str]:
        return self.calls[-1][0]

    def watching(self, key: str, revision: int) -> bool:
        """Whether a change of `key` at `revision` falls under a watch the writer asked for."""
        return any(start <= revision <= end for name, spans in self._spans.items()
                   if (key.startswith(name) if name.endswith("/") else key == name) for start, end in spans)


class StillTrying(Exception):
    """The Docker reader would wait and try again: here its work stops, as if Docker were still away."""


def still_trying(seconds: float) -> None:
    raise StillTrying


class Host:
    """One Docker host: its writer, over a fake Docker, on an etcd it may share with other hosts."""

    def __init__(self, etcd: FakeEtcd | None = None, docker: FakeDocker | None = None, ttl: int = 30,
                 layouts: tuple[str, ...] = ("ec",), host: str = H, host_ip: str = HOST_IP,
                 lease: HostLease | None = None) -> None:
        self.etcd = etcd or FakeEtcd()
        self.docker = docker or FakeDocker(*RUNNING_FIXTURES, *NOT_REGISTRABLE)
        self.host = host
        makers = {"ec": lambda: EcLayout(P, host), "backends": lambda: BackendsLayout(B, host_ip),
                  "traefik": lambda: TraefikLayout("traefik", host_ip, True, parse_rule("rule", DEFAULT_RULE))}
        self.layouts = [makers[name]() for name in layouts]
        self.lease = lease or HostLease(self.etcd, ttl, clock=self.etcd.clock)
        if ttl and lease is None:
            self.lease.grant()
        self.commands: gevent.queue.Queue = gevent.queue.Queue()
        self.follow = Follow(self.etcd)
        self.marker_key = marker_key(P, host)
        marker = Marker(host, self.lease.id, RUNNING, "2026-01-01T00:00:00+00:00")
        self.inspector = Inspector(self.docker, lambda message: self.writer.handle(message), Silence(10),
                                   sleep=still_trying)
        self.writer = Writer(self.commands, self.etcd, self.ask_docker, self.layouts, marker, self.marker_key,
                             self.lease, 60, self.follow)
        self.delivered = 0  # the watches have reported everything before this revision

    def ask_docker(self, request: DockerRequest) -> None:
        """The Docker reader's work done in step: what it tells the writer is handled before this returns."""
        self.inspector.submit(request)
        try:
            self.inspector.drain()
        except StillTrying:
            pass

    def sync(self) -> Host:
        self.writer.handle_resync(Resync("start"))
        return self

    def expected(self, under: str = "/") -> dict[str, str]:
        """Every key the running containers want in every layout (the marker aside), or those `under` a root."""
        keys: dict[str, str] = {}
        for data in self.docker.containers.values():
            if data["State"]["Status"] == "running":
                keys.update(keys_of(data, self.layouts)[0])
        return {key: value for key, value in keys.items() if key.startswith(under)}

    def picture(self) -> dict[str, str]:
        """What etcd should hold for this host: every expected key and its marker (as stored)."""
        return {**self.expected(), self.marker_key: self.etcd.value(self.marker_key)}

    def marker(self) -> dict:
        return json.loads(self.etcd.value(self.marker_key))

    def event(self, cid: str, action: str, signal: str = "") -> None:
        self.ask_docker(ContainerChanged(cid, action, signal))

    def deliver(self, since: int | None = None) -> None:
        """What the watches the writer asked for report from revision `since` on (default: since the last
        delivery, or since the writer first asked), as one KeysChanged."""
        start = since or max(self.delivered, self.follow.calls[0][1])
        events = [event for event in self.etcd.events_since(start, "/")
                  if self.follow.watching(event.key, event.mod_revision)]
        self.delivered = self.etcd.rev + 1
        if events:
            self.writer.handle_keys_changed(KeysChanged(tuple(events)))


def ours(etcd: FakeEtcd, others: dict[str, str]) -> dict[str, str]:
    """The keys under both roots that are not another host's."""
    return {key: kv.value for key, kv in etcd.kvs.items() if key not in others}


def cid_of(name: str) -> str:
    return container(name)["Id"]


def is_own(key: str) -> bool:
    return key.startswith(f"{P}/containers/")


def rank(key: str) -> int:
    return (EcLayout(P, H) if key.startswith(P) else BackendsLayout(B, HOST_IP)).rank(key)


# -- the first full sync ---------------------------------------------------------------------------------


def test_first_sync_writes_exactly_the_ec_keys_under_one_lease():
    host = Host().sync()
    etcd, lease = host.etcd, host.lease.id
    expected = host.expected()
    no_ports = cid_of("no_ports")
    assert expected[f"{P}/hosts/{H}/no_ports"] == expected[f"{P}/{H}/no_ports"] == no_ports
    assert expected[f"{P}/containers/{no_ports}/host"] == H
    assert expected[f"{P}/labels/a%2Fb/{cid_of('hostile_labels')}"] == "slash"
    assert not any(cid_of(name) in key for key in expected for name in NOT_REGISTRABLE)
    assert etcd.under("/") == {**expected, host.marker_key: etcd.value(host.marker_key)}
    assert {kv.lease for kv in etcd.kvs.values()} == {lease}
    assert set(etcd.lease_info(lease, keys=True).keys) == set(etcd.kvs)
    marker = host.marker()
    assert (marker["host"], marker["lease"], marker["state"]) == (H, lease, RUNNING)
    for name in RUNNING_FIXTURES:  # each container's keys in one transaction
        assert len({kv.mod_revision for key, kv in etcd.kvs.items() if cid_of(name) in key}) == 1, name
    assert host.writer.synced.is_set()
    assert host.writer.status() == {"registered_containers": 7.0, "written_keys": len(expected) + 1.0,
                                    "in_sync": 1.0}
    # watched from the revision after the comparison's read (its first write), not after its writes
    first_write = min(kv.mod_revision for kv in etcd.kvs.values())
    assert host.follow.calls[-1] == ({f"{P}/hosts/{H}/", f"{P}/{H}/", host.marker_key}, first_write)


def test_first_sync_with_both_layouts_writes_the_backends_keys_too():
    host = Host(layouts=BOTH).sync()
    etcd = host.etcd
    expected = host.expected()
    short = cid_of("three_ports")[:12]
    assert expected[f"{B}/web/1/{short}"] == "10.1.2.3:5354" and expected[f"{B}/web-tls/1/port"] == "443"
    assert etcd.under(f"{B}/") == {key: value for key, value in expected.items() if key.startswith(f"{B}/")}
    assert etcd.under(f"{P}/") == {**{key: value for key, value in expected.items() if key.startswith(f"{P}/")},
                                   host.marker_key: etcd.value(host.marker_key)}
    assert {kv.lease for kv in etcd.kvs.values()} == {host.lease.id}
    services = {key.split("/")[2] for key in expected if key.startswith(f"{B}/")}
    assert services == {"web", "web-tls", "busybox", "api"}
    assert host.follow.prefixes == {f"{P}/hosts/{H}/", f"{P}/{H}/", host.marker_key,
                                    *(f"{B}/{service}/" for service in services)}


def test_with_ttl_0_keys_are_permanent_and_the_marker_records_the_backends_keys():
    host = Host(ttl=0, layouts=BOTH).sync()
    assert host.lease.id == 0 and host.etcd.leases == {}
    assert {kv.lease for kv in host.etcd.kvs.values()} == {0}
    assert host.marker()["keys"] == sorted(key for key in host.expected() if key.startswith(f"{B}/"))


def test_a_container_too_big_for_one_transaction_is_split_own_keys_first():
    host = Host().sync()
    big = container("no_ports", cid="b" * 64, new_name="big", **{f"l{n:03}": str(n) for n in range(200)})
    host.docker.add(big)
    before = len(host.etcd.txns)
    host.event(big["Id"], "start")
    keys = EcLayout(P, H).container_keys(big)
    assert len(keys) == 409
    assert len(host.etcd.txns) - before == 4  # 128 operations at most each
    revisions = {key: host.etcd.kvs[key].mod_revision for key in keys}
    assert max(rev for key, rev in revisions.items() if is_own(key)) <= min(
        rev for key, rev in revisions.items() if not is_own(key))
    assert host.etcd.under("/") == host.picture()


# -- Docker events ------------------------------------------------------------------------------------------


def test_start_event_registers_only_that_container_in_one_transaction():
    host = Host(layouts=BOTH).sync()
    late = container("service_named", cid="d" * 64, new_name="late")
    host.docker.add(late)
    revision = host.etcd.rev
    host.event(late["Id"], "start")
    assert host.etcd.rev == revision + 1
    written = host.etcd.events_since(revision + 1, "/")
    wanted = {**EcLayout(P, H).container_keys(late), **BackendsLayout(B, HOST_IP).container_keys(late)}
    wanted.pop(f"{B}/api/1/port")  # service_named's: already there, same value
    assert {(event.key, event.value) for event in written} == set(wanted.items())
    assert not any(event.deleted for event in written)
    assert host.etcd.under("/") == host.picture()
    assert host.follow.calls[-1][1] == revision + 1  # a new prefix: from before the change's write


def test_update_event_writes_only_what_changed():
    host = Host().sync()
    cid = cid_of("hostile_labels")
    labels = host.docker.containers[cid]["Config"]["Labels"]
    del labels["empty"]
    labels["a/b"] = "changed"
    labels["new"] = "1"
    revision = host.etcd.rev
    host.event(cid, "update")
    assert host.etcd.rev == revision + 1
    changes = {(event.key, event.deleted) for event in host.etcd.events_since(revision + 1, "/")}
    assert changes == {
        (f"{P}/containers/{cid}/labels/a%2Fb", False), (f"{P}/labels/a%2Fb/{cid}", False),
        (f"{P}/containers/{cid}/labels/new", False), (f"{P}/labels/new/{cid}", False),
        (f"{P}/containers/{cid}/labels/empty", True), (f"{P}/labels/empty/{cid}", True)}
    ops = host.etcd.txns[-1]
    assert [type(op) for op in ops] == [Put] * 4 + [Delete] * 2
    assert [is_own(op.key) for op in ops] == [True, True, False, False, False, True]  # SPEC §3 order


def test_rename_moves_the_host_index_entries():
    host = Host().sync()
    cid = cid_of("no_ports")
    host.docker.containers[cid]["Name"] = "/renamed"
    revision = host.etcd.rev
    host.event(cid, "rename")
    changes = {(event.key, event.value) for event in host.etcd.events_since(revision + 1, "/")}
    assert changes == {(f"{P}/containers/{cid}/name", "renamed"), (f"{P}/hosts/{H}/renamed", cid),
                       (f"{P}/{H}/renamed", cid), (f"{P}/hosts/{H}/no_ports", ""), (f"{P}/{H}/no_ports", "")}


def test_die_event_removes_only_that_container_without_inspecting_it():
    host = Host(layouts=BOTH).sync()
    cid = cid_of("published_tcp_udp")
    mine = {**EcLayout(P, H).container_keys(host.docker.containers[cid]),
            **BackendsLayout(B, HOST_IP).container_keys(host.docker.containers[cid])}
    host.docker.stop(cid)
    gone = set(mine) - set(host.expected())
    assert {f"{B}/busybox/1/port", f"{B}/busybox/2/port"} - gone  # bound_address runs busybox too: they stay
    inspects, revision = host.docker.calls["inspect"], host.etcd.rev
    host.event(cid, "die")
    assert host.docker.calls["inspect"] == inspects
    assert host.etcd.rev == revision + 1
    events = host.etcd.events_since(revision + 1, "/")
    assert all(event.deleted for event in events) and {event.key for event in events} == set(gone)
    ranks = [rank(op.key) for op in host.etcd.txns[-1]]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == 2  # index keys deleted before own keys
    assert host.etcd.under("/") == host.picture()
    assert host.writer.status()["registered_containers"] == 6


def test_unhealthy_and_ignored_containers_are_not_registered_by_events():
    host = Host().sync()
    revision = host.etcd.rev
    host.event(cid_of("service_ignored"), "start")
    host.event(cid_of("healthcheck_starting"), "health_status: starting")
    host.event("9" * 64, "destroy")  # never known
    assert host.etcd.rev == revision


def test_health_turning_healthy_registers_and_unhealthy_removes():
    host = Host().sync()
    cid = cid_of("healthcheck_starting")
    host.docker.add(container("healthcheck_healthy"))
    host.event(cid, "health_status: healthy")
    assert host.etcd.value(f"{P}/hosts/{H}/healthcheck") == cid
    host.docker.add(container("healthcheck_unhealthy"))
    host.event(cid, "health_status: unhealthy")
    assert f"{P}/hosts/{H}/healthcheck" not in host.etcd.kvs
    assert not host.etcd.under(f"{P}/containers/{cid}/")


def test_nothing_is_written_when_nothing_changed():
    host = Host(layouts=BOTH).sync()
    revision, txns = host.etcd.rev, host.etcd.calls["txn"]
    host.writer.handle_resync(Resync("periodic"))
    host.writer.handle_resync(Resync("SIGHUP"))
    host.event(cid_of("three_ports"), "start")
    host.event(cid_of("no_ports"), "unpause")
    assert (host.etcd.rev, host.etcd.calls["txn"]) == (revision, txns)


def test_docker_away_at_a_resync_keeps_what_is_known():
    host = Host().sync()
    host.docker.available = False
    revision = host.etcd.rev
    host.writer.handle_resync(Resync("periodic"))
    host.event(cid_of("no_ports"), "start")  # cannot inspect: nothing changes
    assert host.etcd.rev == revision and host.writer.status()["in_sync"] == 1.0


def test_etcd_away_events_are_followed_in_memory_and_written_when_it_answers():
    host = Host().sync()
    host.etcd.available = False
    late = container("no_ports", cid="d" * 64, new_name="late")
    host.docker.add(late)
    host.event(late["Id"], "start")
    host.docker.stop(cid_of("three_ports"))
    host.event(cid_of("three_ports"), "die")
    assert host.writer.status()["in_sync"] == 0.0
    host.etcd.available = True
    host.writer.handle_resync(Resync("periodic"))
    assert host.etcd.under("/") == host.picture()
    assert host.writer.status()["in_sync"] == 1.0


def test_the_loop_retries_once_etcd_answers_again():
    host = Host().sync()
    host.etcd.available = False
    late = container("no_ports", cid="d" * 64, new_name="late")
    host.docker.add(late)
    host.event(late["Id"], "start")
    assert host.writer.status()["in_sync"] == 0.0
    host.etcd.available = True
    host.commands.put(Resync("queued"))
    assert host.writer._next_message() == Resync("queued")  # the due retry first, then the command
    assert host.etcd.under("/") == host.picture()
    assert host.writer.status()["in_sync"] == 1.0


def test_nothing_is_compared_before_docker_was_listed_once():
    host = Host()
    host.docker.available = False
    host.sync()
    assert host.etcd.calls["txn"] == 0 and host.etcd.calls["read"] == 0
    assert not host.writer.synced.is_set()
    host.docker.available = True
    host.writer.handle_resync(Resync("retry"))
    assert host.etcd.under("/") == host.picture()


def test_an_event_for_a_container_gone_from_docker_removes_its_keys():
    host = Host().sync()
    cid = cid_of("no_ports")
    host.docker.remove(cid)
    host.event(cid, "start")  # a late event: inspect finds nothing
    assert not any(cid in key or value == cid for key, value in host.etcd.under("/").items())
    assert host.etcd.under("/") == host.picture()


def test_a_bulk_write_cut_short_is_completed_by_the_retry():
    host = Host(docker=FakeDocker())
    for n in range(40):
        host.docker.add(container("hostile_labels", cid=f"{n:064x}", new_name=f"c{n}"))
    host.etcd.fail_next(1, call="txn")
    host.sync()
    assert 0 < len(host.etcd.kvs) < len(host.expected()) and host.writer.status()["in_sync"] == 0.0
    host.writer.handle_resync(Resync("retry"))
    assert host.etcd.under("/") == host.picture()


def test_with_ttl_0_the_marker_record_follows_the_containers_in_the_same_transaction():
    host = Host(ttl=0, layouts=BOTH).sync()
    late = container("service_named", cid="d" * 64, new_name="late", SERVICE_NAME="late")
    host.docker.add(late)
    revision = host.etcd.rev
    host.event(late["Id"], "start")
    assert host.etcd.rev == revision + 1
    assert host.marker_key in [op.key for op in host.etcd.txns[-1]]
    assert {f"{B}/late/1/port", f"{B}/late/1/{'d' * 12}"} <= set(host.marker()["keys"])
    host.docker.stop(late["Id"])
    host.event(late["Id"], "die")
    assert host.etcd.rev == revision + 2
    assert not {f"{B}/late/1/port", f"{B}/late/1/{'d' * 12}"} & (set(host.marker()["keys"]) | set(host.etcd.kvs))


def test_with_ttl_0_a_restarted_agent_deletes_the_recorded_keys_of_a_container_gone_meanwhile():
    etcd = FakeEtcd()
    before = Host(etcd=etcd, ttl=0, layouts=BOTH).sync()
    before.writer.handle_shutdown(Shutdown(revoke=False))
    gone = cid_of("service_named")
    before.docker.remove(gone)
    after = Host(etcd=etcd, ttl=0, layouts=BOTH, docker=before.docker).sync()
    assert not any(gone in key or gone[:12] in key for key in etcd.kvs)
    assert f"{B}/api/1/port" not in etcd.kvs
    assert etcd.under("/") == after.picture()


# -- stale keys, other hosts ---------------------------------------------------------------------------


def former_container(etcd: FakeEtcd, layouts: tuple[str, ...] = ("ec",)) -> dict[str, str]:
    """A container of this host that was removed while its agent (TTL 0) was away: permanent keys."""
    data = container("three_ports", cid="f" * 64, new_name="former", team="x")
    keys = EcLayout(P, H).container_keys(data)
    if "backends" in layouts:
        keys.update(BackendsLayout(B, HOST_IP).container_keys(data))
    etcd.put_many(keys)
    return keys


@pytest.mark.parametrize("ttl", [30, 0])
def test_stale_keys_of_this_host_are_deleted_and_other_hosts_never_touched(ttl):
    etcd = FakeEtcd()
    others = other_hosts(etcd, 1000)
    stored = dict(etcd.kvs)
    former = former_container(etcd)
    assert f"{P}/labels/team/{'f' * 64}" in former
    loaded = len(etcd.txns)
    host = Host(etcd=etcd, ttl=ttl).sync()
    assert not set(former) & set(etcd.kvs)
    assert {key: etcd.kvs[key] for key in others} == {key: stored[key] for key in others}  # untouched
    assert ours(etcd, others) == host.picture()
    assert not {op.key for ops in etcd.txns[loaded:] for op in ops} & set(others)


@pytest.mark.parametrize("ttl", [30, 0])
def test_what_a_full_comparison_reads_does_not_grow_with_other_hosts(ttl):
    def reads(count: int) -> tuple[int, int]:
        etcd = FakeEtcd()
        other_hosts(etcd, count)
        former_container(etcd)
        host = Host(etcd=etcd, ttl=ttl, layouts=BOTH).sync()
        host.writer.handle_resync(Resync("periodic"))
        return etcd.keys_read, etcd.calls["read"]

    one, among_many = reads(1), reads(1000)
    assert one == among_many
    assert among_many[0] < 3 * 260  # two comparisons of this host's ~210 keys and the former container's


def test_stale_backends_keys_of_a_former_container_are_deleted_with_a_lease():
    etcd = FakeEtcd()
    host = Host(etcd=etcd, layouts=BOTH)
    former = former_container(etcd, BOTH)
    for key in [key for key in former if key.startswith(B)]:  # as a previous agent's, on our lease
        etcd.put(key, former[key], host.lease.id)
    host.sync()
    assert not set(former) & set(etcd.kvs) - set(host.expected())


# -- self-healing ---------------------------------------------------------------------------------------


def test_a_foreign_delete_of_a_host_index_key_is_repaired_at_once():
    host = Host().sync()
    key = f"{P}/hosts/{H}/no_ports"
    since = host.etcd.rev + 1
    host.etcd.delete(key)
    host.deliver(since)
    assert host.writer._schedule.heal_pending
    host.commands.put(Resync("queued"))
    assert host.writer._next_message() == Resync("queued")  # the loop: the due repair, then the command
    assert not host.writer._schedule.heal_pending
    assert host.etcd.kvs[key].value == cid_of("no_ports") and host.etcd.kvs[key].lease == host.lease.id
    assert host.etcd.under("/") == host.picture()


def test_a_foreign_overwrite_and_a_foreign_key_under_the_host_index_are_undone():
    host = Host().sync()
    since = host.etcd.rev + 1
    host.etcd.put(f"{P}/{H}/no_ports", "tampered")
    host.etcd.put(f"{P}/hosts/{H}/intruder", "0" * 64)
    host.deliver(since)
    assert host.writer._schedule.heal_pending
    host.writer._heal()
    assert host.etcd.value(f"{P}/{H}/no_ports") == cid_of("no_ports")
    assert f"{P}/hosts/{H}/intruder" not in host.etcd.kvs


def test_our_own_writes_are_not_damage():
    host = Host(layouts=BOTH).sync()
    since = host.etcd.rev + 1
    late = container("no_ports", cid="d" * 64, new_name="late")
    host.docker.add(late)
    host.event(late["Id"], "start")
    host.docker.stop(cid_of("three_ports"))
    host.event(cid_of("three_ports"), "die")
    host.writer.handle_shutdown(Shutdown(revoke=False))  # the marker, rewritten
    web = [event for event in host.etcd.events_since(since, "/") if event.key.startswith(f"{B}/web")]
    assert len(web) == 6 and all(host.follow.watching(event.key, event.mod_revision) for event in web)
    host.deliver(since)
    assert not host.writer._schedule.heal_pending


def test_a_foreign_delete_of_a_container_key_alone_waits_for_the_next_resync():
    host = Host().sync()
    key = f"{P}/containers/{cid_of('no_ports')}/image"
    since = host.etcd.rev + 1
    host.etcd.delete(key)
    host.deliver(since)  # not under a watched prefix: the watch does not see it
    assert host.etcd.events_since(since, key) and not host.etcd.events_since(since, host.follow.prefixes)
    assert not host.writer._schedule.heal_pending and key not in host.etcd.kvs
    host.writer.handle_resync(Resync("periodic"))
    assert host.etcd.value(key) == "srtest/busybox:latest"


def test_a_key_fought_over_is_left_alone_after_three_restores():
    host = Host().sync()
    key = f"{P}/hosts/{H}/no_ports"
    for _ in range(3):
        since = host.etcd.rev + 1
        host.etcd.put(key, "other agent's")
        host.deliver(since)
        host.writer._heal()
        assert host.etcd.value(key) == cid_of("no_ports")
    since = host.etcd.rev + 1
    host.etcd.put(key, "other agent's")
    host.deliver(since)
    host.writer._heal()
    assert host.etcd.value(key) == "other agent's"


def test_another_agent_writing_our_marker_stops_this_one():
    host = Host().sync()
    since = host.etcd.rev + 1
    other = Marker(H, host.lease.id, RUNNING, "2026-01-02T00:00:00+00:00", agent="99-otheragent")
    host.etcd.put(host.marker_key, other.encode(), host.lease.id)
    revision = host.etcd.rev
    with pytest.raises(HostTakenOver):
        host.deliver(since)
    with pytest.raises(HostTakenOver):
        host.writer.handle_resync(Resync("periodic"))
    assert host.etcd.rev == revision  # nothing written after it


def test_our_predecessors_marker_is_not_a_takeover():
    etcd = FakeEtcd()
    lease = HostLease(etcd, 30, clock=etcd.clock)
    lease.grant()
    etcd.put(marker_key(P, H), Marker(H, lease.id, STOPPED, "x", agent="1-predecessor").encode(), lease.id)
    host = Host(etcd=etcd, lease=lease).sync()
    assert host.marker()["agent"] != "1-predecessor" and host.marker()["state"] == RUNNING


# -- the lease ------------------------------------------------------------------------------------------


def test_lease_loss_grants_a_new_lease_and_puts_every_key_again():
    host = Host(layouts=BOTH).sync()
    old = host.lease.id
    host.etcd.advance(31)  # no keepalive: etcd expires the lease, every key goes with it
    assert host.etcd.kvs == {}
    host.writer.handle_lease_lost(LeaseLost(old))
    assert host.lease.id not in (0, old)
    assert host.etcd.under("/") == host.picture()
    assert {kv.lease for kv in host.etcd.kvs.values()} == {host.lease.id}
    assert host.marker()["lease"] == host.lease.id


def test_lease_loss_found_by_a_write_is_queued_and_handled():
    host = Host().sync()
    old = host.lease.id
    host.etcd.expire(old)
    late = container("no_ports", cid="d" * 64, new_name="late")
    host.docker.add(late)
    host.event(late["Id"], "start")
    command = host.commands.get_nowait()
    assert command == LeaseLost(old)
    host.writer.handle(command)
    host.writer.handle_lease_lost(LeaseLost(old))  # reported twice (heartbeat and write): once is enough
    assert host.etcd.under("/") == host.picture()
    assert len(host.etcd.leases) == 1


def test_lease_loss_while_etcd_is_away_is_retried():
    host = Host().sync()
    old = host.lease.id
    host.etcd.expire(old)
    host.etcd.fail_next(1)
    host.writer.handle_lease_lost(LeaseLost(old))
    assert host.lease.id == old and host.writer.status()["in_sync"] == 0.0
    assert host.writer._schedule.retry_due()
    host.writer._retry()  # the retry's comparison finds the lease still gone and says so again
    assert host.commands.get_nowait() == LeaseLost(old)
    host.writer.handle_lease_lost(LeaseLost(old))
    assert host.lease.id != old and host.etcd.under("/") == host.picture()


def test_a_dead_lease_found_by_a_resync_is_reported_as_lost():
    host = Host().sync()
    old = host.lease.id
    host.etcd.expire(old)
    host.writer.handle_resync(Resync("periodic"))
    assert host.commands.get_nowait() == LeaseLost(old)
    assert host.writer.status()["in_sync"] == 0.0 and host.etcd.kvs == {}


def test_an_agent_back_after_another_claimed_its_host_writes_nothing():
    etcd = FakeEtcd()
    frozen = Host(etcd=etcd).sync()
    etcd.advance(31)  # frozen: no keepalive, its lease expired, its marker with it
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(frozen.marker_key, H) is Claim.GRANT
    successor = Host(etcd=etcd, docker=frozen.docker, lease=lease).sync()
    assert successor.marker()["lease"] == lease.id
    stored, revision = dict(etcd.kvs), etcd.rev
    with pytest.raises(HostTakenOver):
        frozen.writer.handle_lease_lost(LeaseLost(frozen.lease.id))
    assert (etcd.kvs, etcd.rev) == (stored, revision)
    with pytest.raises(HostTakenOver):
        frozen.deliver()  # its watch, resumed, reports the successor's marker


def adopting(etcd: FakeEtcd, layouts: tuple[str, ...], ttl: int) -> Host:
    """An agent stopped with SIGINT on a lease of `ttl`; a new agent (TTL 30) adopts that lease."""
    before = Host(etcd=etcd, ttl=ttl, layouts=layouts).sync()
    before.writer.handle_shutdown(Shutdown(revoke=False))
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(before.marker_key, H) is Claim.ADOPT
    assert lease.id == before.lease.id
    return Host(etcd=etcd, docker=before.docker, layouts=layouts, lease=lease)


def test_an_adopted_lease_of_our_ttl_is_kept_and_no_key_is_rewritten():
    etcd = FakeEtcd()
    host = adopting(etcd, ("ec",), 30)
    revision = etcd.rev
    host.sync()
    assert etcd.rev == revision + 1  # the marker alone: our agent id, state running
    assert [op.key for op in etcd.txns[-1]] == [host.marker_key]


@pytest.mark.parametrize("layouts", [("ec",), BOTH])
def test_an_adopted_lease_of_another_ttl_is_replaced_without_a_gap(layouts):
    etcd = FakeEtcd()
    host = adopting(etcd, layouts, 9)
    old = host.lease.id
    assert host.lease.needs_replacement()
    since = etcd.rev + 1
    host.sync()
    assert host.lease.id != old and not host.lease.needs_replacement()
    assert old not in etcd.leases and etcd.lease_info(host.lease.id).granted == 30
    assert etcd.under("/") == host.picture()
    assert {kv.lease for kv in etcd.kvs.values()} == {host.lease.id}
    assert not [event.key for event in etcd.events_since(since, "/") if event.deleted]  # consumers saw no gap


# -- signals --------------------------------------------------------------------------------------------


def test_wipe_deletes_every_layout_root_then_registers_again():
    etcd = FakeEtcd()
    others = other_hosts(etcd, 20)
    etcd.put("/elsewhere/key", "kept")
    host = Host(etcd=etcd, layouts=BOTH).sync()
    host.writer.handle_wipe(Wipe())
    assert not (set(others) - set(host.expected())) & set(etcd.kvs)
    assert etcd.value("/elsewhere/key") == "kept"
    assert etcd.calls["delete_prefix"] == 2
    del etcd.kvs["/elsewhere/key"]
    assert etcd.under("/") == host.picture()
    assert host.writer.status()["in_sync"] == 1.0


def test_sigterm_revokes_the_lease():
    etcd = FakeEtcd()
    others = other_hosts(etcd, 5)
    host = Host(etcd=etcd, layouts=BOTH).sync()
    revision = etcd.rev
    host.writer.handle_shutdown(Shutdown(revoke=True))
    assert etcd.kvs.keys() == others.keys() and etcd.leases == {}
    assert etcd.rev == revision + 1  # atomically
    assert host.writer.exit_code == 0


def test_sigterm_with_ttl_0_deletes_every_key_of_both_layouts():
    etcd = FakeEtcd()
    others = other_hosts(etcd, 5)
    host = Host(etcd=etcd, ttl=0, layouts=BOTH)
    host.docker.add(container("three_ports", cid="e" * 64, new_name="alone", SERVICE_NAME="solo"))
    host.sync()
    assert etcd.value(f"{B}/solo/1/port") == "53"
    recorded = set(host.marker()["keys"])
    assert f"{B}/solo/1/port" in recorded and f"{B}/solo/1/{'e' * 12}" in recorded
    host.writer.handle_shutdown(Shutdown(revoke=True))
    assert ours(etcd, others) == {}
    assert host.writer.exit_code == 0


def test_a_wipe_on_another_host_is_repaired_by_this_one():
    first, second = two_hosts_running_web()
    second.docker.add(container("hostile_labels", cid="3" * 64, new_name="labelled"))
    second.writer.handle_resync(Resync("SIGHUP"))
    first.writer.handle_wipe(Wipe())
    settle(first, second)
    assert first.etcd.under("/") == {**first.expected(), **second.expected(), first.marker_key: first.etcd.value(
        first.marker_key), second.marker_key: first.etcd.value(second.marker_key)}


def test_sigterm_with_ttl_0_leaves_a_port_key_another_host_stands_beside():
    first, second = two_hosts_running_web(ttl=0)
    first.writer.handle_shutdown(Shutdown(revoke=True))
    assert first.etcd.under(f"{B}/") == second.expected(B)
    assert not first.etcd.under(f"{P}/hosts/{H}/") and first.marker_key not in first.etcd.kvs


def test_sigterm_with_etcd_away_exits_1():
    host = Host().sync()
    host.etcd.available = False
    host.writer.handle_shutdown(Shutdown(revoke=True))
    assert host.writer.exit_code == 1


def test_sigint_leaves_the_keys_and_marks_the_host_stopped():
    host = Host(layouts=BOTH).sync()
    before = dict(host.etcd.kvs)
    revision = host.etcd.rev
    host.writer.handle_shutdown(Shutdown(revoke=False))
    assert host.etcd.rev == revision + 1 and [op.key for op in host.etcd.txns[-1]] == [host.marker_key]
    assert host.marker()["state"] == STOPPED and StoredMarker.decode(host.etcd.value(host.marker_key)).state == STOPPED
    assert {key: kv for key, kv in host.etcd.kvs.items() if key != host.marker_key} == {
        key: kv for key, kv in before.items() if key != host.marker_key}
    assert host.lease.id in host.etcd.leases and host.writer.exit_code == 0


def test_sigint_with_ttl_0_leaves_permanent_keys():
    host = Host(ttl=0).sync()
    host.writer.handle_shutdown(Shutdown(revoke=False))
    assert host.marker()["state"] == STOPPED
    assert host.etcd.under("/") == host.picture()


# -- the shared backends `port` key -------------------------------------------------------------------


def two_hosts_running_web(ttl: int = 30) -> tuple[Host, Host]:
    """h1 runs `web` (three_ports) from the start; h2, up with nothing, then starts a `web` container too.
    Both watch what they asked for, and are told after each step."""
    etcd = FakeEtcd()
    first = Host(etcd=etcd, ttl=ttl, layouts=BOTH, docker=FakeDocker("three_ports")).sync()
    second = Host(etcd=etcd, ttl=ttl, layouts=BOTH, host="h2", host_ip="10.1.2.4", docker=FakeDocker()).sync()
    web2 = container("three_ports", cid="2" * 64, new_name="web2")
    second.docker.add(web2)
    second.event(web2["Id"], "start")
    settle(first, second)
    return first, second


def settle(*hosts: Host) -> None:
    """Each host's watches report what happened; due repairs are made; until nothing more happens."""
    revision = None
    while revision != hosts[0].etcd.rev:
        revision = hosts[0].etcd.rev
        for host in hosts:
            host.deliver()
            if host.writer._schedule.heal_pending:
                host.writer._heal()


PORTS = {f"{B}/web/1/port": "53", f"{B}/web/2/port": "80", f"{B}/web-tls/1/port": "443"}


def test_two_hosts_running_one_service_share_its_port_keys():
    first, second = two_hosts_running_web()
    etcd = first.etcd
    assert {key: etcd.value(key) for key in PORTS} == PORTS
    assert etcd.value(f"{B}/web/1/{'2' * 12}") == "10.1.2.4:5354"
    assert etcd.under(f"{B}/") == {**first.expected(B), **second.expected(B)}
    revision = etcd.rev
    second.writer.handle_resync(Resync("periodic"))
    first.writer.handle_resync(Resync("periodic"))
    assert etcd.rev == revision


def test_a_shared_port_key_held_by_another_host_is_not_rewritten_by_a_start_event():
    first, second = two_hosts_running_web()
    assert {first.etcd.kvs[key].lease for key in PORTS} == {first.lease.id}


@pytest.mark.parametrize("ttl", [30, 0])
@pytest.mark.parametrize("leaving", ["h1", "h2"])
def test_a_shared_port_key_stays_while_another_hosts_key_stands_beside_it(ttl, leaving):
    hosts = dict(zip(("h1", "h2"), two_hosts_running_web(ttl), strict=True))
    host, other = hosts[leaving], hosts[{"h1": "h2", "h2": "h1"}[leaving]]
    etcd = host.etcd
    cid = next(iter(host.docker.containers))
    host.docker.stop(cid)
    host.event(cid, "die")
    settle(host, other)
    assert f"{B}/web/1/{cid[:12]}" not in etcd.kvs
    assert {key: etcd.value(key) for key in PORTS} == PORTS
    assert etcd.under(f"{B}/") == other.expected(B)
    revision = etcd.rev
    host.writer.handle_resync(Resync("periodic"))
    other.writer.handle_resync(Resync("periodic"))
    assert etcd.rev == revision


def test_a_shared_port_key_is_deleted_with_the_last_container_of_its_service():
    host = Host(layouts=BOTH, docker=FakeDocker("three_ports", "no_ports")).sync()
    cid = cid_of("three_ports")
    host.docker.stop(cid)
    host.event(cid, "die")
    assert host.etcd.under(f"{B}/") == {}


def test_a_shared_port_key_left_on_our_lease_goes_at_the_next_resync_once_alone():
    first, second = two_hosts_running_web()
    etcd = first.etcd
    holder, other = (first, second) if etcd.kvs[f"{B}/web/1/port"].lease == first.lease.id else (second, first)
    for host in (holder, other):
        cid = next(iter(host.docker.containers))
        host.docker.stop(cid)
        host.event(cid, "die")
        settle(first, second)
    holder.writer.handle_resync(Resync("periodic"))
    assert etcd.under(f"{B}/") == {}


def test_a_shared_port_key_whose_holder_left_is_put_back_by_the_host_still_running_the_service():
    first, second = two_hosts_running_web()
    etcd = first.etcd
    holder, other = (first, second) if etcd.kvs[f"{B}/web/1/port"].lease == first.lease.id else (second, first)
    holder.writer.handle_shutdown(Shutdown(revoke=True))
    assert not set(PORTS) & set(etcd.kvs)
    settle(other)
    assert {key: (etcd.value(key), etcd.kvs[key].lease) for key in PORTS} == {
        key: (value, other.lease.id) for key, value in PORTS.items()}
    assert etcd.under(f"{B}/") == other.expected(B)


def test_the_shared_keys_of_a_silent_holder_move_to_a_live_host_before_its_lease_expires(caplog):
    """SPEC §7 (and §4's port key): a holder whose lease is silent past the take-over threshold (kill -9) is
    gone; the host still wanting its shared keys puts them on its own lease before that lease expires, so no
    consumer sees them deleted. A holder that is only late is left alone."""
    first, second = two_hosts_running_web()
    etcd = first.etcd
    holder, other = (first, second) if etcd.kvs[f"{B}/web/1/port"].lease == first.lease.id else (second, first)
    watch = HolderWatch(etcd, other.writer.state.holder_leases,
                        lambda leases: other.writer.handle_holders_silent(HoldersSilent(leases)), every=1)
    assert other.writer.state.holder_leases() == {holder.lease.id}
    silence = takeover_silence(holder.lease.granted)
    etcd.advance(silence - 1)
    other.lease.refresh()
    assert watch.check() == ()
    assert {etcd.kvs[key].lease for key in PORTS} == {holder.lease.id}
    revision = etcd.rev
    etcd.advance(2)  # the holder's lease is silent past the threshold, still alive
    other.lease.refresh()
    assert holder.lease.id in etcd.leases
    with caplog.at_level("INFO"):
        assert watch.check() == (holder.lease.id,)
    assert {key: (etcd.value(key), etcd.kvs[key].lease) for key in PORTS} == {
        key: (value, other.lease.id) for key, value in PORTS.items()}
    assert not [event for event in etcd.events_since(revision + 1, "/") if event.deleted]
    assert any("took over 3 shared keys" in record.getMessage() for record in caplog.records)
    assert other.writer.state.holder_leases() == set() and watch.check() == ()
    etcd.advance(holder.lease.granted - silence)  # the holder's lease runs out: its own keys go, the shared stay
    assert holder.lease.id not in etcd.leases and other.lease.id in etcd.leases
    assert {key: etcd.value(key) for key in PORTS} == PORTS


def test_the_names_of_removed_containers_are_forgotten():
    host = Host().sync()
    cid = cid_of("three_ports")
    assert cid in host.writer._changelog.names
    host.docker.stop(cid)
    host.event(cid, "die")
    assert cid not in host.writer._changelog.names
    assert set(host.writer._changelog.names) == {cid_of(name) for name in RUNNING_FIXTURES + NOT_REGISTRABLE} - {cid}


@pytest.mark.parametrize("layouts", [("ec",), BOTH])
def test_a_failed_revoke_of_the_replaced_lease_leaves_the_writer_running(layouts, caplog):
    """Defect: the revoke of the adopted lease after its keys moved was unguarded; etcd unavailable there ended
    the agent with exit 1. Now one warning: the keys are on the new lease, the old one runs out by itself."""
    etcd = FakeEtcd()
    host = adopting(etcd, layouts, 9)
    old = host.lease.id
    etcd.fail_next(call="lease_revoke")
    with caplog.at_level("WARNING"):
        host.sync()
    assert host.lease.id != old and old in etcd.leases
    assert {kv.lease for kv in etcd.kvs.values()} == {host.lease.id}
    assert "could not be revoked and expires by itself" in caplog.text
    assert host.writer.status()["in_sync"] == 1.0


def api_container(cid: str, port: int, started: str) -> dict:
    """service_named (service `api`) publishing container port `port`, started at `started`."""
    data = container("service_named", cid=cid, new_name=f"api-{port}")
    data["NetworkSettings"]["Ports"] = {f"{port}/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(10000 + port)}]}
    data["State"]["StartedAt"] = started
    return data


def test_two_containers_of_one_service_with_other_ports_the_last_started_wins_with_one_warning(caplog):
    """Defect: B/<svc>/<n>/port followed the container whose id sorts lowest, silently. SPEC §4: the last
    writer wins and the agent warns once."""
    early = api_container("f" * 64, 8080, "2026-12-01T10:00:00.000000001Z")  # sorts last by id, started first
    late = api_container("a" * 64, 9090, "2026-12-01T11:00:00.000000001Z")
    docker = FakeDocker()
    docker.add(early)
    docker.add(late)
    host = Host(docker=docker, layouts=BOTH)
    port_key = "/backends/api/1/port"
    with caplog.at_level("WARNING"):
        host.sync()
        host.writer.handle_resync(Resync("periodic"))
    assert host.etcd.value(port_key) == "9090"  # the last started
    said = [record.getMessage() for record in caplog.records if port_key in record.getMessage()]
    assert len(said) == 1 and "api-9090" in said[0].split(";")[1] and "keeps it" in said[0]
    later = api_container("b" * 64, 7070, "2026-12-01T12:00:00.000000001Z")
    docker.add(later)
    host.event(later["Id"], "start")  # started last: it wins now
    assert host.etcd.value(port_key) == "7070"
    host.docker.stop(later["Id"])
    host.event(later["Id"], "die")  # gone: the one started last before it wins again
    assert host.etcd.value(port_key) == "9090"


def test_two_containers_defining_one_traefik_router_differently_the_first_started_keeps_it(caplog):
    """SPEC §7: equal definitions are one; defined differently, the first registered keeps it, one warning."""
    early, late = (api_container(cid, 8080, started) for cid, started in
                   (("f" * 64, "2026-12-01T10:00:00.000000001Z"), ("a" * 64, "2026-12-01T11:00:00.000000001Z")))
    for data, host_name in ((early, "early.test"), (late, "late.test")):
        data["Config"]["Labels"] = {"traefik.http.routers.api.rule": f"Host(`{host_name}`)",
                                    "traefik.http.services.api.loadbalancer.server.port": "8080"}
    docker = FakeDocker()
    docker.add(early)
    docker.add(late)
    host = Host(docker=docker, layouts=("traefik",))
    with caplog.at_level("WARNING"):
        host.sync()
        host.writer.handle_resync(Resync("periodic"))
    rule = "traefik/http/routers/api/rule"
    assert host.etcd.value(rule) == "Host(`early.test`)"
    said = [record.getMessage() for record in caplog.records if rule in record.getMessage()]
    assert len(said) == 1 and "api-8080 (ffffffffffff) keeps it" in said[0]
    servers = {key for key in host.etcd.under("traefik/") if "/servers/" in key}
    assert servers == {f"traefik/http/services/api/loadbalancer/servers/{cid[:12]}/url" for cid in ("f" * 64, "a" * 64)}
    host.docker.stop(early["Id"])
    host.event(early["Id"], "die")  # gone: the other definition is the only one left
    assert host.etcd.value(rule) == "Host(`late.test`)"


def test_a_traefik_router_another_host_defines_differently_stays_as_that_host_wrote_it_with_one_warning(caplog):
    """SPEC §7: where two containers define one key differently, the first registered keeps it and the other is
    warned about once."""
    etcd = FakeEtcd()
    first_box, second_box = (api_container(cid, 8080, "2026-12-01T10:00:00.000000001Z") for cid in ("f" * 64, "a" * 64))
    for data, rule in ((first_box, "Host(`first.test`)"), (second_box, "Host(`second.test`)")):
        data["Config"]["Labels"] = {"traefik.http.routers.api.rule": rule}
    first = Host(etcd=etcd, docker=FakeDocker(), layouts=("traefik",)).sync()
    first.docker.add(first_box)
    first.event(first_box["Id"], "start")
    second = Host(etcd=etcd, docker=FakeDocker(), layouts=("traefik",), host="h2").sync()
    second.docker.add(second_box)
    with caplog.at_level("WARNING"):
        second.event(second_box["Id"], "start")
        for _ in range(2):
            second.writer.handle_resync(Resync("periodic"))
    rule = "traefik/http/routers/api/rule"
    assert (etcd.value(rule), etcd.kvs[rule].lease) == ("Host(`first.test`)", first.lease.id)
    said = [record.getMessage() for record in caplog.records if rule in record.getMessage()]
    assert len(said) == 1 and "the host holding it keeps it" in said[0], said
    assert etcd.value(f"traefik/http/services/api-8080/loadbalancer/servers/{'a' * 12}/url")  # its server is there


def test_traefik_keys_with_ttl_0_are_recorded_and_go_with_their_container_even_after_a_restart():
    """TTL 0 as for the other layouts: no lease lists the keys, so the marker records them; a container removed
    while no agent ran loses its keys at the next start."""
    etcd = FakeEtcd()
    docker = FakeDocker("published_tcp_udp", "three_ports")
    host = Host(etcd=etcd, docker=docker, ttl=0, layouts=("traefik",)).sync()
    expected = host.expected("traefik/")
    assert etcd.under("traefik/") == expected and expected
    assert set(json.loads(etcd.value(host.marker_key))["keys"]) == set(expected)
    gone = cid_of("three_ports")
    docker.stop(gone)
    successor = Host(etcd=etcd, docker=docker, ttl=0, layouts=("traefik",)).sync()
    assert etcd.under("traefik/") == successor.expected("traefik/")
    assert not any(gone[:12] in key for key in etcd.under("traefik/"))


def test_a_container_sent_its_stop_signal_leaves_at_once_and_stays_out_until_it_starts_again():
    """SPEC §6: the `kill` event carrying the container's stop signal removes its keys in every layout while it
    still runs; no full comparison brings it back; `start` does. Any other signal changes nothing."""
    host = Host(layouts=("ec", "backends", "traefik")).sync()
    cid = cid_of("three_ports")
    before = host.etcd.under("/")
    revision = host.etcd.rev
    for other in ("1", "10", "SIGWINCH", ""):  # SIGHUP to reload, SIGUSR1, SIGWINCH; Podman names none
        host.event(cid, "kill", other)
    assert host.etcd.rev == revision
    host.event(cid, "kill", "15")
    assert host.etcd.rev == revision + 1  # one transaction
    assert not [key for key in host.etcd.under("/") if cid in key or cid[:12] in key]
    assert host.docker.containers[cid]["State"]["Running"]
    for reason in ("periodic", "SIGHUP"):
        host.writer.handle_resync(Resync(reason))
    host.event(cid, "health_status: healthy")
    assert not [key for key in host.etcd.under("/") if cid in key or cid[:12] in key]
    host.event(cid, "start")
    assert host.etcd.under("/") == before


@pytest.mark.parametrize(("stop", "leaving", "staying"), [("SIGQUIT", "3", "15"), ("", "9", "2"), ("3", "9", "15")])
def test_the_stop_signal_is_the_containers_own_or_sigkill(stop, leaving, staying):
    data = container("three_ports")
    data["Config"]["StopSignal"] = stop
    docker = FakeDocker()
    docker.add(data)
    host = Host(docker=docker).sync()
    keys = host.etcd.under(P + "/containers/")
    host.event(data["Id"], "kill", staying)
    assert host.etcd.under(P + "/containers/") == keys
    host.event(data["Id"], "kill", leaving)
    assert host.etcd.under(P + "/containers/") == {}


def test_a_change_by_someone_else_during_the_first_comparison_is_healed():
    """Defect: the watches started after the comparison's own writes, not after its read: a foreign delete
    landing between the two was never seen (with RESYNC=0, never repaired)."""
    etcd = FakeEtcd()
    host = adopting(etcd, ("ec",), 30)  # the keys are there; the first comparison writes the marker only
    victim = next(key for key in etcd.kvs if key.startswith(f"{P}/hosts/{H}/"))
    write = etcd.txn

    def someone_deletes_first(ops, lease):
        if etcd.value(victim) is not None:
            etcd.delete(victim)  # after the comparison read it, before its first write
        return write(ops, lease)

    etcd.txn = someone_deletes_first
    host.sync()
    assert etcd.value(victim) is None
    host.deliver()
    assert host.writer._schedule.heal_pending
    host.writer._heal()
    assert etcd.value(victim) is not None and etcd.under("/") == host.picture()


class StuckDocker(FakeDocker):
    """A Docker that cannot inspect one container (a 500, a timeout behind its lock) until told otherwise."""

    def __init__(self, *fixtures: str) -> None:
        super().__init__(*fixtures)
        self.stuck: set[str] = set()

    def inspect(self, cid: str):
        if cid in self.stuck:
            self.calls["inspect"] += 1
            raise DockerUnavailable("500 Server Error: container lock timed out")
        return super().inspect(cid)


def test_one_container_that_cannot_be_inspected_does_not_stop_the_host(caplog):
    """Defect: one failed inspect failed the whole listing: nothing was written, not even the marker."""
    etcd = FakeEtcd()
    before = Host(etcd=etcd, docker=StuckDocker(*RUNNING_FIXTURES)).sync()  # a previous agent's keys
    before.writer.handle_shutdown(Shutdown(revoke=False))
    docker = StuckDocker(*RUNNING_FIXTURES)
    stuck = cid_of("three_ports")
    docker.stuck.add(stuck)
    stuck_keys = {key: kv.value for key, kv in etcd.kvs.items() if stuck in key}
    lease = HostLease(etcd, 30, clock=etcd.clock)
    assert lease.claim(before.marker_key, H) is Claim.ADOPT
    host = Host(etcd=etcd, docker=docker, lease=lease)
    with caplog.at_level("WARNING"):
        host.sync()
        host.writer.handle_resync(Resync("retry"))
    assert host.marker()["state"] == RUNNING
    assert {key: etcd.value(key) for key in stuck_keys} == stuck_keys  # left as it is, not deleted
    others = {key: value for key, value in host.expected().items() if stuck not in key}
    assert others.items() <= etcd.under("/").items()
    said = [record for record in caplog.records if "cannot inspect container" in record.getMessage()]
    assert len(said) == 1 and stuck[:12] in said[0].getMessage()
    assert host.writer._schedule.wait_time() <= 30  # Docker is read again soon, periodic comparisons or not
    docker.stuck.clear()
    docker.stop(cid_of("no_ports"))  # meanwhile a container stopped: the complete read removes it
    host.writer.handle_resync(Resync("retry"))
    assert etcd.under("/") == host.picture()
    assert not any(cid_of("no_ports") in key for key in etcd.kvs)


def test_one_ready_line_when_the_first_full_comparison_is_in_etcd(caplog):
    """Issue 24: no log line said the agent was ready (the last start-up line was the marker's registration)."""
    host = Host()
    with caplog.at_level("INFO", "agent.daemon.writer"):
        host.sync()
        host.writer.handle_resync(Resync("periodic"))
    ready = [record.getMessage() for record in caplog.records if record.getMessage().startswith("ready:")]
    assert ready == [f"ready: this host's {len(RUNNING_FIXTURES)} containers are in etcd "
                     f"({len(host.etcd.under('/'))} keys); following Docker and etcd"]
