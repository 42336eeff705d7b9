"""`status --serve` (issue 25), its pure parts and its WSGI application: the mirror kept by watch events
(deletes included) and its sum of the containers' keys, the snapshot the page shows (hosts with containers,
services with backends and traefik routes, anomalies placed on their host), its search and pages, and the
server's answers (read-only, loopback names only, JSON, the page's files)."""

from __future__ import annotations

import json

import gevent
import pytest

from agent.adapters.etcd_errors import EtcdError
from agent.core.kv import KeyValue, WatchEvent
from agent.settings import ConfigError
from agent.status.live.follower import REFRESH, LiveRegistry, live_ranges
from agent.status.live.mirror import Mirror
from agent.status.live.server import WebView, loopback_host
from agent.status.live.snapshot import ANOMALIES_TAB, HOSTS_TAB, PAGE_ROWS, SERVICES_TAB, Snapshot, page_of, snapshot_of
from agent.status.registry import Registry
from agent.status.settings import SERVE_ADDR, load
from tests.fakes.etcd import FakeEtcd, _Lease
from tests.unit.test_status_report import CID_A, CID_B1, CID_Z, EC, LEASE_A, LEASES, B, T, container, fleet, kv
from tests.unit.test_status_views import FLAGS

MISSING = "d" * 64


def event(item: KeyValue, deleted: bool = False) -> WatchEvent:
    return WatchEvent(item.key, item.value, item.lease, 43, deleted, item.create_revision)


def mirrored(kvs: list[KeyValue]) -> Mirror:
    mirror = Mirror(EC)
    mirror.add(kvs)
    mirror.revision = 42
    return mirror


def registry_of(mirror: Mirror) -> Registry:
    return mirror.registry(B, T)


def snapshot(kvs: list[KeyValue]) -> Snapshot:
    mirror = mirrored(kvs)
    return snapshot_of(registry_of(mirror), mirror.by_key, LEASES, 42, 1)


# -- the mirror --------------------------------------------------------------------------------------------


ODD_HOST_KEYS = [kv(f"{EC}/hosts/host-a/deeper/key", "x", LEASE_A), kv(f"{EC}/host-q/only-second", MISSING),
                 kv(f"{EC}/hosts/host-q/listed", MISSING)]


@pytest.mark.parametrize("kvs", [fleet(), [*fleet(), kv(f"{EC}/containers/{MISSING}/id", MISSING)],
                                 [*fleet(), *container("host-q", MISSING, "q", 0)], [*fleet(), *ODD_HOST_KEYS]])
def test_the_mirror_sums_keys_up_as_the_registry_would_add_them(kvs):
    assert registry_of(mirrored(kvs)) == Registry.of(EC, B, T, kvs)
    assert len(mirrored(kvs)) == len(kvs)


def test_watch_events_put_change_and_delete_keys_and_the_containers_sum():
    mirror = mirrored(fleet())
    added = container("host-a", MISSING, "new", LEASE_A)
    mirror.apply(event(item) for item in added)
    assert MISSING in mirror.containers.counts and mirror.containers.hosts[MISSING] == "host-a"
    assert f"{EC}/hosts/host-a/new" in mirror.host_keys.keys and mirror.host_keys.listed["host-a"] == 2
    mirror.apply(event(item, deleted=True) for item in [*added, *added])  # a delete of a gone key changes nothing
    assert registry_of(mirror) == registry_of(mirrored(fleet()))
    mirror.apply(event(item) for item in ODD_HOST_KEYS)
    mirror.apply(event(item, deleted=True) for item in ODD_HOST_KEYS)
    assert registry_of(mirror) == registry_of(mirrored(fleet()))
    assert mirror.revision == 43

    before = dict(mirror.containers.unleased)  # host-z's: TTL 0
    moved = container("host-b", CID_B1, "db", 0)[0]  # its id key put again on no lease
    mirror.apply([event(moved)])
    assert mirror.containers.unleased == {**before, moved.key: CID_B1}
    mirror.apply([event(moved, deleted=True), event(moved, deleted=True)])  # a delete of a gone key changes nothing
    assert mirror.containers.counts[CID_B1] == 2 and mirror.containers.unleased == before


# -- the snapshot --------------------------------------------------------------------------------------------


def test_hosts_carry_their_containers_and_anomalies_their_host():
    planted = [*fleet(), kv(f"{EC}/hosts/host-a/ghost", MISSING, LEASE_A)]
    shown = snapshot(planted)
    hosts = {row["host"]: row for row in shown.rows[HOSTS_TAB]}
    assert [item["name"] for item in hosts["host-b"]["items"]] == ["db", "q"]
    assert hosts["host-a"]["lease"] == f"{LEASE_A:x}" and hosts["host-a"]["seconds_left"] == 7
    assert hosts["host-a"]["anomalies"] == 1 and hosts["host-b"]["anomalies"] == 0
    assert [(row["kind"], row["host"]) for row in shown.rows[ANOMALIES_TAB]] == [("dangling-index", "host-a")]


def test_an_anomaly_of_a_container_key_or_a_leased_key_is_placed_on_its_host():
    stray = [kv(f"{EC}/containers/{CID_A}/labels/extra", "x"), kv(f"{B}/shared/1/other", "10.0.0.9:1", LEASE_A)]
    shown = snapshot([*fleet(), *stray])
    placed = {row["key"]: row["host"] for row in shown.rows[ANOMALIES_TAB]}
    assert placed[stray[0].key] == "host-a"


def test_services_show_backends_ports_servers_and_the_routers_naming_them():
    services = {row["service"]: row for row in snapshot(fleet()).rows[SERVICES_TAB]}
    assert services["shared"]["backends"] == [{"group": "1", "container": CID_A[:12], "address": "10.0.0.1:32768",
                                               "host": "host-a"}]
    assert services["shared"]["ports"] == {"1": "80"}
    assert services["web"]["servers"] == [{"proto": "http", "server": CID_A[:12], "at": "http://10.0.0.1:32768",
                                           "host": "host-a"}]
    assert services["zero"]["servers"] == [{"proto": "tcp", "server": CID_Z[:12], "at": "10.0.0.1:32768", "host": ""}]
    assert services["web"]["routes"] == [{"proto": "http", "router": "web", "rule": "Host(`x`)"}]
    assert services["zero"]["routes"][0]["rule"] == "HostSNI(`*`)"


def test_a_search_narrows_the_rows_in_any_case_and_pages_hold_page_rows():
    assert [row["host"] for row in page_of(snapshot(fleet()), HOSTS_TAB, "DB", 1)["rows"]] == ["host-b"]
    assert page_of(snapshot(fleet()), SERVICES_TAB, "nothing like it", 1)["matched"] == 0
    many = [item for number in range(PAGE_ROWS + 5) for item in container(f"h{number:03d}", f"{number:064x}", "c", 0)]
    second = page_of(snapshot(many), HOSTS_TAB, "", 2)
    assert (second["page"], second["pages"], len(second["rows"]), second["rows"][0]["host"]) == \
           (2, 2, 5, f"h{PAGE_ROWS:03d}")
    assert page_of(snapshot(many), HOSTS_TAB, "", 99)["page"] == 2  # past the end: the last page
    assert second["counts"][HOSTS_TAB] == PAGE_ROWS + 5 and second["states"] == {"no marker": PAGE_ROWS + 5}


# -- the server ----------------------------------------------------------------------------------------------


class Live:
    """What WebView asks of LiveRegistry."""

    def __init__(self, shown: Snapshot) -> None:
        self.snapshot, self.read_keys, self.trouble = shown, 10, ""
        self.asked: list[tuple[int, float]] = []

    def wait_newer(self, version: int, timeout: float) -> Snapshot:
        self.asked.append((version, timeout))
        return self.snapshot


def request(view: WebView, path: str, method: str = "GET", host: str = "127.0.0.1:9481", query: str = ""):
    return view.reply({"PATH_INFO": path, "REQUEST_METHOD": method, "HTTP_HOST": host, "QUERY_STRING": query})


def test_the_server_answers_the_page_and_its_query_and_nothing_else():
    live = Live(snapshot(fleet()))
    view = WebView(live, loopback_only=True)
    code, kind, body = request(view, "/api/view", query="tab=services&q=web&page=1&after=3")
    document = json.loads(body)
    assert (code, kind, document["tab"], document["matched"], document["reading"]) == \
           ("200 OK", "application/json", "services", 1, 10)
    assert live.asked == [(3, 8.0)]
    assert request(view, "/api/view", query="tab=<script>&after=x")[0] == "200 OK"
    assert json.loads(request(view, "/api/view", query=f"page={'9' * 5000}&after={'9' * 5000}")[2])["page"] == 1
    assert request(view, "/")[2].startswith(b"<!doctype html>")
    assert request(view, "/page.js")[1] == "text/javascript"
    assert request(view, "/api/view", method="POST")[0].startswith("405")
    assert request(view, "/", host="attacker.example")[0].startswith("403")
    assert request(view, "/etc/passwd")[0].startswith("404")
    assert request(WebView(live, loopback_only=False), "/", host="registry.example:9481")[0] == "200 OK"


def test_json_names_stay_ascii_escaped():
    hostile = "<script>alert(1)</script>\u2028"
    live = Live(snapshot(container("h", MISSING, hostile.replace("/", "%2F"), 0)))
    body = request(WebView(live, True), "/api/view")[2]
    assert body.isascii() and b"\\u2028" in body


@pytest.mark.parametrize(("header", "loopback"), [
    ("127.0.0.1:9481", True), ("localhost:9481", True), ("localhost", True), ("[::1]:9481", True), ("::1", True),
    ("127.0.0.2", True), ("10.0.0.1:9481", False), ("evil.example:9481", False), ("", False), ("[fe80::1]", False),
])
def test_loopback_names(header, loopback):
    assert loopback_host(header) is loopback


# -- the setting ---------------------------------------------------------------------------------------------


def test_serve_takes_an_address_or_the_loopback_default():
    assert load(["--serve"], {}).serve == ("127.0.0.1", int(SERVE_ADDR.rsplit(":", 1)[1]))
    assert load(["--serve", "0.0.0.0:8080"], {}).serve == ("0.0.0.0", 8080)
    with pytest.raises(ConfigError, match="--serve: expected host:port"):
        load(["--serve", "somewhere"], {})
    with pytest.raises(ConfigError, match="--json: not with --serve"):
        load(["--serve", "--json"], {})


# -- the follower, on the fake etcd's watch feed ----------------------------------------------------------------


@pytest.fixture
def following():
    """A LiveRegistry following the fake etcd holding the fleet of test_status_report; stopped at the end."""
    fake = FakeEtcd()
    for item in fleet():
        fake.kvs[item.key] = item
    fake.leases = {lease: _Lease(info.granted, fake.now + info.remaining) for lease, info in LEASES.items()}
    fake.rev = 42
    live = LiveRegistry(fake, load(FLAGS, {}), (EtcdError,), sleep=lambda seconds: gevent.sleep(0),
                        clock=fake.clock)
    greenlet = gevent.spawn(live.run)
    yield fake, live
    greenlet.kill()
    live.stop()


def newer(live: LiveRegistry, version: int) -> Snapshot:
    shown = live.wait_newer(version, 2.0)
    assert shown.version > version, "no new snapshot within 2 s"
    return shown


def turns_true(probe, timeout: float = 2.0) -> bool:
    """`probe()` true within `timeout` seconds, the greenlets running meanwhile (no monkey-patching here)."""
    with gevent.Timeout(timeout, False):
        while not probe():
            gevent.sleep(0.01)
    return bool(probe())


def host_names(shown: Snapshot) -> list[str]:
    return [row["host"] for row in shown.rows[HOSTS_TAB]]


def test_the_follower_applies_puts_and_deletes_and_reads_again_after_compaction(following):
    fake, live = following
    first = newer(live, 0)
    assert host_names(first) == ["host-a", "host-b", "host-z"] and first.revision == 42
    fake.put(f"{EC}/hosts/host-new/web", CID_A)
    added = newer(live, first.version)
    assert "host-new" in host_names(added) and added.revision == 43
    fake.delete(f"{EC}/hosts/host-new/web")
    assert "host-new" not in host_names(newer(live, added.version))
    assert fake.calls["pages"] == len(live_ranges(load(FLAGS, {})))

    fake.compacted = fake.rev  # the watches' next revision is gone: everything is read again
    fake.put(f"{EC}/hosts/host-late/web", CID_A)
    assert turns_true(lambda: "host-late" in host_names(live.snapshot)), "no read after the compaction"
    assert fake.calls["pages"] == 2 * len(live_ranges(load(FLAGS, {})))


def test_a_change_asks_only_new_leases_and_every_lease_once_refresh_seconds_passed(following):
    fake, live = following
    first = newer(live, 0)
    asked = fake.calls["lease_info"]
    assert asked == 2  # host-a's lease and host-b's (host-z's marker is on none)
    fake.put(f"{EC}/hosts/host-a/extra", CID_A, LEASE_A)
    second = newer(live, first.version)
    assert fake.calls["lease_info"] == asked  # every lease known, asked less than REFRESH ago
    fake.now += REFRESH
    fake.put(f"{EC}/hosts/host-a/more", CID_A, LEASE_A)
    newer(live, second.version)
    assert turns_true(lambda: fake.calls["lease_info"] == 2 * asked), "every lease asked once REFRESH passed"


def test_an_etcd_that_cannot_be_read_is_said_and_tried_again():
    fake = FakeEtcd()
    fake.fail_next(2, call="pages")
    live = LiveRegistry(fake, load(FLAGS, {}), (EtcdError,), sleep=lambda seconds: gevent.sleep(0))
    greenlet = gevent.spawn(live.run)
    try:
        assert turns_true(lambda: live.problem.startswith("cannot read etcd")), live.problem
        assert newer(live, 0).version == 1 and live.problem == ""
    finally:
        greenlet.kill()
