"""`status` report (agent/status/report.py): hosts and anomalies from hand-made keys, text and JSON output."""

from __future__ import annotations

import json

import pytest

from agent.core.escape import escape_segment
from agent.core.kv import KeyValue, LeaseInfo
from agent.core.marker import Marker
from agent.settings import ConfigError
from agent.status import main as status_main
from agent.status.registry import slash_root
from agent.status.report import (
    COLUMNS,
    Anomaly,
    HostRow,
    build_report,
    leases_to_ask,
    render_json,
    render_text,
)
from agent.status.settings import load
from tests.fakes.etcd import FakeEtcd

EC, B, T = "/registry", "/backends", "traefik"
LEASE_A, LEASE_B, LEASE_C = 0x694D8F3C1A2B3C01, 0x694D8F3C1A2B3C02, 0x694D8F3C1A2B3C03
CID_A, CID_B1, CID_B2, CID_Z = "a" * 64, "b1" * 32, "b2" * 32, "c" * 64
MISSING = "d" * 64
STARTED = "2024-05-01T10:00:00+00:00"
LEASES = {LEASE_A: LeaseInfo(10, 7), LEASE_B: LeaseInfo(10, 9), LEASE_C: LeaseInfo(10, 8)}


def kv(key: str, value: str = "", lease: int = 0) -> KeyValue:
    return KeyValue(key, value, lease, 5, 5)


def marker(segment: str, lease: int, state: str = "running", keys: tuple[str, ...] = (), address: str = "") -> KeyValue:
    value = Marker(segment, lease, state, STARTED, version="1.2.3", agent="1-ab", keys=keys, address=address).encode()
    return kv(f"{EC}/agents/{segment}", value, lease)


def container(segment: str, cid: str, name: str, lease: int, labels: dict[str, str] | None = None) -> list[KeyValue]:
    base = f"{EC}/containers/{cid}"
    keys = [kv(f"{base}/id", cid, lease), kv(f"{base}/name", name, lease), kv(f"{base}/host", segment, lease),
            kv(f"{EC}/hosts/{segment}/{name}", cid, lease), kv(f"{EC}/{segment}/{name}", cid, lease)]
    for label, value in (labels or {}).items():
        keys += [kv(f"{base}/labels/{label}", value, lease), kv(f"{EC}/labels/{label}/{cid}", value, lease)]
    return keys


def route(service: str, cid: str, lease: int, address: str = "10.0.0.1:32768") -> KeyValue:
    return kv(f"{B}/{service}/1/{cid[:12]}", address, lease)


def port(service: str, lease: int) -> KeyValue:
    return kv(f"{B}/{service}/1/port", "80", lease)


def server(proto: str, service: str, cid: str, lease: int, value: str = "10.0.0.1:32768") -> KeyValue:
    leaf = "url" if proto == "http" else "address"
    value = f"http://{value}" if proto == "http" else value
    return kv(f"{T}/{proto}/services/{service}/loadbalancer/servers/{cid[:12]}/{leaf}", value, lease)


def router(proto: str, name: str, service: str, lease: int) -> list[KeyValue]:
    rule = "Host(`x`)" if proto == "http" else "HostSNI(`*`)"
    return [kv(f"{T}/{proto}/routers/{name}/rule", rule, lease), kv(f"{T}/{proto}/routers/{name}/service", service,
                                                                    lease)]


ZERO_TRAEFIK = [server("tcp", "zero", CID_Z, 0), *router("tcp", "zero", "zero", 0)]
ZERO_RECORD = (f"{B}/zero/1/{CID_Z[:12]}", f"{B}/zero/1/port", *sorted(item.key for item in ZERO_TRAEFIK))


def fleet() -> list[KeyValue]:
    """host-a (ec, backends and traefik, leased, published addresses), host-b (ec, leased, holding a traefik
    middleware, container addresses), host-z (ec, backends and traefik, TTL 0, a marker from before SPEC §8)."""
    return [
        marker("host-a", LEASE_A, address="published"), *container("host-a", CID_A, "web", LEASE_A, {"tier": "front"}),
        route("shared", CID_A, LEASE_A), port("shared", LEASE_A),
        server("http", "web", CID_A, LEASE_A), *router("http", "web", "web", LEASE_A),
        kv(f"{T}/http/routers/web/middlewares/0", "auth", LEASE_A),
        kv(f"{T}/http/services/web/loadbalancer/passhostheader", "true", LEASE_A),
        marker("host-b", LEASE_B, address="container"), *container("host-b", CID_B1, "db", LEASE_B),
        *container("host-b", CID_B2, "q", LEASE_B),
        kv(f"{T}/http/middlewares/auth/basicauth/users/0", "u:$apr1$x", LEASE_B),
        marker("host-z", 0, keys=ZERO_RECORD), *container("host-z", CID_Z, "zero", 0, {"tier": "back"}),
        route("zero", CID_Z, 0), port("zero", 0), *ZERO_TRAEFIK,
    ]


def report_of(kvs: list[KeyValue], leases: dict[int, LeaseInfo] | None = None):
    return build_report(EC, B, T, kvs, LEASES if leases is None else leases, 42)


def kinds(report) -> set[tuple[str, str]]:
    return {(anomaly.kind, anomaly.key) for anomaly in report.anomalies}


def test_a_healthy_fleet_has_a_row_per_host_and_no_anomalies():
    report = report_of(fleet())
    assert report.revision == 42
    assert report.hosts == (
        HostRow("host-a", "running", "1.2.3", STARTED, LEASE_A, 7, 1, 1, servers=1, routers=1, services=1,
                address="published"),
        HostRow("host-b", "running", "1.2.3", STARTED, LEASE_B, 9, 2, 0, middlewares=1, address="container"),
        HostRow("host-z", "running", "1.2.3", STARTED, 0, None, 1, 1, servers=1, routers=1),
    )
    assert report.anomalies == ()


def test_the_table_pads_columns_and_says_no_anomalies():
    lines = render_text(report_of(fleet())).splitlines()
    assert lines[0].split() == ["HOST", "STATE", "VERSION", "STARTED", "LEASE", "TTL", "LEFT", "CONTAINERS", "BACKENDS",
                                "SERVERS", "ROUTERS", "ADDRESS"]
    assert lines[1].split() == ["host-a", "running", "1.2.3", STARTED, f"{LEASE_A:x}", "7s", "1", "1", "1", "1",
                                "published"]
    assert lines[2].split()[-3:] == ["0", "0", "container"]
    assert lines[3].split() == ["host-z", "running", "1.2.3", STARTED, "-", "-", "1", "1", "1", "1", "-"]
    assert lines[-1] == "no anomalies" and len(lines) == 5
    starts = [lines[0].index(column) for column in COLUMNS]
    for line in lines[1:4]:
        assert all(line[start - 2:start] == "  " and line[start] != " " for start in starts[1:]), line


def test_leases_to_ask_are_the_markers_leases():
    assert leases_to_ask(EC, fleet()) == {LEASE_A, LEASE_B}
    assert leases_to_ask(EC, [kv(f"{EC}/agents/x", "not json", 7), kv(f"{EC}/agents/x/deeper", "{}", 8)]) == {7}


def test_a_stopped_marker_and_a_stopped_host_on_its_lease():
    kvs = [marker("host-s", LEASE_A, state="stopped"), *container("host-s", CID_A, "web", LEASE_A)]
    report = report_of(kvs)
    assert report.hosts[0].state == "stopped" and report.hosts[0].seconds_left == 7
    assert report.anomalies == ()


def test_unleased_keys_beside_leased_hosts():
    kvs = [*fleet(), kv(f"{EC}/stray", "1"), kv(f"{EC}/hosts/host-a/extra", CID_A), kv(f"{B}/lost/1/{CID_B1[:12]}"),
           kv(f"{EC}/containers/{CID_B1}/planted", "x"), kv(f"{EC}/labels/extra/{CID_A}", "x")]
    report = report_of(kvs)
    assert kinds(report) == {("unleased", f"{EC}/stray"), ("unleased", f"{EC}/hosts/host-a/extra"),
                             ("unleased", f"{B}/lost/1/{CID_B1[:12]}"),
                             ("unleased", f"{EC}/containers/{CID_B1}/planted"),
                             ("unleased", f"{EC}/labels/extra/{CID_A}")}
    assert report.hosts[0].containers == 2  # the planted index entry is an entry all the same


def test_a_ttl0_hosts_keys_are_not_unleased_but_keys_it_does_not_own_are():
    kvs = [*fleet(), kv(f"{B}/zero/1/{'e' * 12}", "10.0.0.9:1"), kv(f"{EC}/containers/{MISSING}/id", MISSING),
           kv(f"{B}/other/1/port", "80")]
    assert kinds(report_of(kvs)) == {("unleased", f"{B}/zero/1/{'e' * 12}"),
                                     ("unleased", f"{EC}/containers/{MISSING}/id"), ("unleased", f"{B}/other/1/port")}


def test_a_ttl0_host_owns_containers_whose_host_key_names_it():
    orphan = [kv(f"{EC}/containers/{MISSING}/id", MISSING), kv(f"{EC}/containers/{MISSING}/host", "host-z")]
    assert report_of([*fleet(), *orphan]).anomalies == ()


def test_with_no_lease_in_use_keys_of_no_host_are_unleased():
    only_zero = [marker("host-z", 0, keys=ZERO_RECORD), *container("host-z", CID_Z, "zero", 0),
                 route("zero", CID_Z, 0), port("zero", 0)]
    assert report_of(only_zero, {}).anomalies == ()
    report = report_of([*only_zero, kv(f"{EC}/containers/{MISSING}/id", MISSING)], {})
    assert kinds(report) == {("unleased", f"{EC}/containers/{MISSING}/id")}
    no_markers = build_report(EC, B, T, [route("x", CID_A, 0)], {}, 3)
    assert kinds(no_markers) == {("unleased", f"{B}/x/1/{CID_A[:12]}")} and no_markers.hosts == ()


def test_dangling_index_keys():
    kvs = [*fleet(), kv(f"{EC}/hosts/host-a/ghost", MISSING, LEASE_A), kv(f"{EC}/host-a/ghost", MISSING, LEASE_A),
           kv(f"{EC}/labels/tier/{MISSING}", "front", LEASE_A)]
    report = report_of(kvs)
    assert kinds(report) == {("dangling-index", f"{EC}/hosts/host-a/ghost"), ("dangling-index", f"{EC}/host-a/ghost"),
                             ("dangling-index", f"{EC}/labels/tier/{MISSING}")}
    assert f"names container {MISSING}, but {EC}/containers/{MISSING}/ holds no key" in report.anomalies[0].detail


def test_lease_gone():
    report = report_of(fleet(), {LEASE_A: LeaseInfo(10, 7), LEASE_B: LeaseInfo(0, -1)})
    assert kinds(report) == {("lease-gone", f"{EC}/agents/host-b")}
    assert report.hosts[1].seconds_left == -1
    assert report.anomalies[0].detail == f"host host-b: its lease {LEASE_B:x} is gone"
    assert render_text(report).splitlines()[2].split()[5] == "gone"
    assert kinds(report_of(fleet(), {LEASE_A: LeaseInfo(10, 7)})) == {("lease-gone", f"{EC}/agents/host-b")}


def test_no_marker():
    kvs = [*fleet(), *container("ghost", MISSING, "web", LEASE_B)]
    report = report_of(kvs)
    assert kinds(report) == {("no-marker", f"{EC}/agents/ghost")}
    assert report.anomalies[0].detail == "host ghost has 2 index keys but no marker"
    assert HostRow("ghost", "no marker", "", "", 0, None, 1, 0) in report.hosts


def test_a_host_seen_only_in_its_second_index():
    report = report_of([*fleet(), kv(f"{EC}/solo/web", CID_A, LEASE_A)])
    assert kinds(report) == {("no-marker", f"{EC}/agents/solo")}
    assert [row.host for row in report.hosts] == ["host-a", "host-b", "host-z", "solo"]


def test_bad_markers():
    kvs = [*fleet(), kv(f"{EC}/agents/junk", "not json", LEASE_A),
           kv(f"{EC}/agents/odd", '{"state": "weird"}', LEASE_B),
           kv(f"{EC}/agents/nolease", '{"state": "running", "lease": "12"}', LEASE_B)]
    report = report_of(kvs)
    assert kinds(report) == {("bad-marker", f"{EC}/agents/junk"), ("bad-marker", f"{EC}/agents/odd"),
                             ("bad-marker", f"{EC}/agents/nolease")}
    junk = next(row for row in report.hosts if row.host == "junk")
    assert junk == HostRow("junk", "unreadable", "", "", LEASE_A, 7, 0, 1, 1, 1, 0, 1)  # host-a's lease, as read


def test_a_bad_marker_on_no_lease_owns_nothing():
    kvs = [*fleet(), kv(f"{EC}/agents/junk", "[]"), kv(f"{EC}/hosts/junk/web", CID_Z)]
    assert kinds(report_of(kvs)) == {("bad-marker", f"{EC}/agents/junk"), ("unleased", f"{EC}/agents/junk"),
                                     ("unleased", f"{EC}/hosts/junk/web")}


def test_reserved_words_are_not_hosts_and_segments_are_unescaped():
    kvs = [*fleet(), marker("web%2Fa%25", LEASE_C), kv(f"{EC}/web%2Fa%25/x", CID_A, LEASE_C)]
    report = report_of(kvs)
    assert [row.host for row in report.hosts] == ["host-a", "host-b", "host-z", "web/a%"]
    assert report.anomalies == ()


def test_hostile_names_cannot_forge_lines():
    evil_host = "evil\nhost-a  running  9.9.9  -  -  -  99  99\x1b[2J"
    evil_label = "x\r\nunleased  /registry/forged  fake\u2028"
    kvs = [*fleet(), marker(evil_host, LEASE_C),
           kv(f"{EC}/labels/{escape_segment(evil_label)}/{MISSING}", "v", LEASE_A)]
    report = report_of(kvs)
    assert {row.host for row in report.hosts} >= {evil_host}
    text = render_text(report)
    lines = text.splitlines()
    assert len(lines) == 1 + len(report.hosts) + 1 + len(report.anomalies)
    assert [line.split()[0] for line in lines[1:5]] == ["evil\\nhost-a", "host-a", "host-b", "host-z"]
    assert all(line.startswith("  dangling-index  ") for line in lines[6:])
    assert "\x1b" not in text and "\r" not in text and "\u2028" not in text
    assert "\\x1b[2J" in lines[1] and "x\\r\\nunleased" in lines[-1]


def test_json_shape():
    kvs = [*fleet(), kv(f"{EC}/stray", "1")]
    document = json.loads(render_json(report_of(kvs)))
    assert set(document) == {"revision", "hosts", "anomalies"} and document["revision"] == 42
    assert document["hosts"][0] == {"host": "host-a", "state": "running", "version": "1.2.3", "started": STARTED,
                                    "lease": LEASE_A, "seconds_left": 7, "containers": 1, "backends": 1, "servers": 1,
                                    "routers": 1, "middlewares": 0, "services": 1, "address": "published"}
    assert document["hosts"][1]["middlewares"] == 1
    assert (document["hosts"][2]["seconds_left"], document["hosts"][2]["address"]) == (None, "")
    assert document["anomalies"] == [{"kind": "unleased", "key": f"{EC}/stray",
                                      "detail": "on no lease and no TTL-0 host's key: it never expires"}]


def test_anomalies_are_sorted_by_kind_then_key_and_counted():
    kvs = [*fleet(), kv(f"{EC}/z-stray", "1"), kv(f"{EC}/a-stray/x", CID_A, LEASE_A),
           kv(f"{EC}/labels/l/{MISSING}", "v", LEASE_A)]
    report = report_of(kvs)
    assert [(item.kind, item.key) for item in report.anomalies] == [
        ("dangling-index", f"{EC}/labels/l/{MISSING}"), ("no-marker", f"{EC}/agents/a-stray"),
        ("unleased", f"{EC}/z-stray")]
    assert "3 anomalies:" in render_text(report).splitlines()
    one = report_of([*fleet(), kv(f"{EC}/z-stray", "1")])
    assert render_text(one).splitlines()[-2:] == [
        "1 anomaly:", f"  unleased  {EC}/z-stray  on no lease and no TTL-0 host's key: it never expires"]
    assert isinstance(one.anomalies[0], Anomaly)


def test_a_marker_with_a_lease_id_etcd_cannot_have_is_a_bad_marker():
    """Defect: a marker naming lease 2^63 was taken as a lease; asking etcd for it failed the whole report."""
    value = json.dumps({"state": "running", "lease": 2**63, "started": STARTED, "version": "1"})
    kvs = [*fleet(), kv(f"{EC}/agents/huge", value, LEASE_C)]
    report = report_of(kvs)
    assert kinds(report) == {("bad-marker", f"{EC}/agents/huge")}
    assert leases_to_ask(EC, kvs) == {LEASE_A, LEASE_B, LEASE_C}  # what the keys are on, never what they say
    assert next(row for row in report.hosts if row.host == "huge").state == "unreadable"


def test_a_marker_naming_another_hosts_lease_is_flagged_and_shown_with_its_own():
    """Defect: a marker declaring host-a's lease showed host-a's TTL and routes and no anomaly."""
    kvs = [*fleet(), kv(f"{EC}/agents/host-c", marker("host-c", LEASE_A).value, LEASE_C)]
    report = report_of(kvs)
    assert kinds(report) == {("marker-lease", f"{EC}/agents/host-c")}
    row = next(row for row in report.hosts if row.host == "host-c")
    assert (row.lease, row.seconds_left, row.backends) == (LEASE_C, 8, 0)
    assert report.anomalies[0].detail == f"host host-c: its marker names lease {LEASE_A:x} but is on lease {LEASE_C:x}"


def test_two_markers_on_one_lease_are_flagged():
    kvs = [*fleet(), marker("host-c", LEASE_A)]
    assert kinds(report_of(kvs)) == {("shared-lease", f"{EC}/agents/host-a"), ("shared-lease", f"{EC}/agents/host-c")}
    detail = {anomaly.key: anomaly.detail for anomaly in report_of(kvs).anomalies}[f"{EC}/agents/host-a"]
    assert detail == f"host host-a: its marker's lease {LEASE_A:x} holds the marker of host-c too"


def test_json_escapes_what_is_not_printable_and_stays_json():
    """Defect: --json printed C1 controls, bidi overrides, line separators and DEL raw."""
    hostile = "a\u009bb\u202ec\u2028d\x7fe\x1bf"
    report = report_of([*fleet(), marker(escape_segment(hostile), LEASE_C)])
    text = render_json(report)
    assert not any(char in text for char in "\u009b\u202e\u2028\x7f\x1b")
    assert "a\\u009bb\\u202ec\\u2028d\\u007fe\\u001bf" in text
    assert hostile in {row["host"] for row in json.loads(text)["hosts"]}


# -- the traefik layout --------------------------------------------------------------------------------------


def test_traefik_counts_are_by_lease_and_servers_by_container():
    """Two servers of one container (http and tcp), a second http server of another container, a router defined
    by several keys, and a definition held by another host's lease: counted once each, on the lease's host."""
    kvs = [*fleet(), server("tcp", "db", CID_B1, LEASE_B), server("http", "web", CID_B1, LEASE_B),
           kv(f"{T}/http/services/web/loadbalancer/servers/{CID_B1[:12]}/weight", "2", LEASE_B),
           server("http", "q", CID_B2, LEASE_B), *router("tcp", "db", "db", LEASE_B),
           kv(f"{T}/tcp/routers/db/entrypoints/0", "pg", LEASE_B)]
    report = report_of(kvs)
    assert report.anomalies == ()
    row = next(row for row in report.hosts if row.host == "host-b")
    assert (row.servers, row.routers, row.middlewares, row.services) == (3, 1, 1, 0)
    assert next(row for row in report.hosts if row.host == "host-a").servers == 1


def test_a_ttl0_host_counts_only_the_traefik_keys_it_recorded_on_no_lease():
    """host-z records a router host-a's lease holds (the first registered keeps it): host-a's, not host-z's."""
    shared = router("http", "web", "web", LEASE_A)
    record = (*ZERO_RECORD, *(item.key for item in shared))
    kvs = [item for item in fleet() if item.key != f"{EC}/agents/host-z"] + [marker("host-z", 0, keys=record)]
    row = next(row for row in report_of(kvs).hosts if row.host == "host-z")
    assert (row.servers, row.routers) == (1, 1)


def test_traefik_keys_on_no_lease_that_no_ttl0_host_recorded_are_unleased():
    stray = kv(f"{T}/http/routers/stray/rule", "Host(`s`)")
    assert kinds(report_of([*fleet(), stray])) == {("unleased", stray.key)}


def test_traefik_keys_on_a_lease_no_marker_names_are_an_orphan_lease_once():
    orphan = [server("http", "gone", CID_B1, LEASE_C), *router("http", "gone", "gone", LEASE_C),
              kv(f"{T}/unparsed", "x", LEASE_C)]
    report = report_of([*fleet(), *orphan])
    assert kinds(report) == {("orphan-lease", f"{T}/http/routers/gone/rule")}
    assert report.anomalies[0].detail == (f"lease {LEASE_C:x}, which no agent marker names, holds 4 traefik keys: "
                                          "they belong to no host")
    named = kv(f"{EC}/agents/host-c", marker("host-c", LEASE_C).value, LEASE_A)  # names LEASE_C, is on host-a's
    assert ("orphan-lease", f"{T}/http/routers/gone/rule") not in kinds(report_of([*fleet(), *orphan, named]))
    single = report_of([*fleet(), server("http", "gone", CID_B1, LEASE_C)])
    assert single.anomalies[0].detail.endswith("holds 1 traefik key: they belong to no host")


def test_a_server_of_a_container_the_hosts_ec_keys_do_not_name_is_foreign():
    foreign = server("http", "web", CID_B1, LEASE_A)  # host-b's container, on host-a's lease
    weight = kv(f"{T}/http/services/web/loadbalancer/servers/{'f' * 12}/weight", "1", LEASE_A)
    report = report_of([*fleet(), foreign, weight])
    assert kinds(report) == {("foreign-server", foreign.key), ("foreign-server", weight.key)}
    detail = {item.key: item.detail for item in report.anomalies}[foreign.key]
    assert detail == (f"server {CID_B1[:12]} of http service web is on the lease of host host-a, whose ec keys "
                      f"name no container {CID_B1[:12]}")


def test_a_container_named_only_by_its_host_key_is_the_hosts_own():
    kvs = [*fleet(), kv(f"{EC}/containers/{MISSING}/host", "host-a", LEASE_A), server("http", "web", MISSING, LEASE_A)]
    assert report_of(kvs).anomalies == ()


def test_servers_of_a_host_without_ec_keys_or_of_a_ttl0_host_are_not_checked():
    """A host whose agent writes no ec layout (LAYOUTS=traefik): its containers are not known to status."""
    only_traefik = [marker("host-t", LEASE_C), server("http", "t", "9" * 64, LEASE_C),
                    *router("http", "t", "t", LEASE_C)]
    assert report_of([*fleet(), *only_traefik]).anomalies == ()
    sharer = marker("host-s", LEASE_A)  # a second host on host-a's lease with no ec keys: not checkable either
    assert kinds(report_of([*fleet(), sharer, server("http", "web", CID_B1, LEASE_A)])) == {
        ("shared-lease", f"{EC}/agents/host-a"), ("shared-lease", f"{EC}/agents/host-s")}


def test_a_router_whose_service_has_no_server():
    kvs = [*fleet(),
           *router("http", "nowhere", "missing", LEASE_A),  # no such service
           *router("http", "bare", "bare", LEASE_A),  # a load balancer without servers
           kv(f"{T}/http/services/bare/loadbalancer/passhostheader", "true", LEASE_A),
           *router("tcp", "cross", "web", LEASE_A),  # web is an http service: tcp has none
           *router("http", "internal", "api@internal", LEASE_A),  # another provider's: not checked
           *router("http", "own", "web@etcd", LEASE_A),  # this provider's, with a server
           *router("http", "split", "wrr", LEASE_A),  # a weighted service has no servers of its own
           kv(f"{T}/http/services/wrr/weighted/services/0/name", "web", LEASE_A),
           *router("http", "nl\nforged", "missing@etcd", LEASE_A)]
    report = report_of(kvs)
    assert kinds(report) == {("no-server", f"{T}/http/routers/nowhere/service"),
                             ("no-server", f"{T}/http/routers/bare/service"),
                             ("no-server", f"{T}/tcp/routers/cross/service"),
                             ("no-server", f"{T}/http/routers/nl\nforged/service")}
    details = {item.key: item.detail for item in report.anomalies}
    assert details[f"{T}/http/routers/nowhere/service"] == (
        f"http router nowhere names service missing, which is not defined under {T}/http/services/")
    assert details[f"{T}/http/routers/bare/service"] == (
        f"http router bare names service bare, which has no server under {T}/http/services/")
    lines = render_text(report).splitlines()
    assert len(lines) == 1 + len(report.hosts) + 1 + 4  # the name with a newline did not start a line
    assert all(line.startswith("  no-server  ") for line in lines[-4:])
    assert any(line.startswith(f"  no-server  {T}/http/routers/nl\\nforged/service  http router nl\\nforged names")
               for line in lines)


def test_keys_under_the_traefik_root_with_a_leading_slash_are_one_anomaly():
    wrong = [kv(f"/{T}/http/routers/web/rule", "Host(`x`)"), kv(f"/{T}/http/routers/web/service", "web", LEASE_A)]
    report = report_of([*fleet(), *wrong])
    assert kinds(report) == {("slash-root", f"/{T}/")}  # not unleased, not counted
    assert report.anomalies[0].detail == (f"2 keys that Traefik never reads: its rootKey {T} has no leading / "
                                          f"(the agent writes {T}/…)")
    assert report.hosts == report_of(fleet()).hosts


def test_the_slash_root_is_not_looked_for_where_it_is_another_roots():
    assert slash_root(EC, B, T) == "/traefik"
    assert slash_root("/traefik", B, T) is None and slash_root(EC, "/tr", "tr/x") is None
    assert slash_root(EC, "/a/b", "a") is None
    ec_named_traefik = build_report("/traefik", B, T, [marker("h", LEASE_A)], LEASES, 1)
    assert ec_named_traefik.anomalies == ()  # /traefik/agents/h is an ec key


def test_status_settings_take_the_traefik_root_of_the_layout():
    assert load([], {}).traefik_root == "traefik"
    assert load([], {"EC_REGISTRATOR_TRAEFIK_ROOT": "edge/"}).traefik_root == "edge"
    assert load(["--traefik-root", "tr"], {"EC_REGISTRATOR_TRAEFIK_ROOT": "edge"}).traefik_root == "tr"
    with pytest.raises(ConfigError, match="EC_REGISTRATOR_TRAEFIK_ROOT"):
        load(["--traefik-root", "/traefik"], {})


def test_status_reads_the_traefik_root_and_its_slash_twin(monkeypatch):
    etcd = FakeEtcd()
    lease = etcd.lease_grant(10)
    etcd.put(f"{EC}/agents/h", Marker("h", lease, "running", STARTED).encode(), lease)
    etcd.put(f"edge/http/services/s/loadbalancer/servers/{CID_A[:12]}/url", "http://10.0.0.1:1", lease)
    etcd.put("/edge/http/routers/s/rule", "Host(`x`)")
    etcd.put("edgeless/http/routers/s/rule", "Host(`x`)")  # not under edge/
    monkeypatch.setattr(status_main.Etcd, "from_config", lambda config: etcd)
    report = status_main.read_report(load(["--traefik-root", "edge"], {}))
    assert [(row.host, row.servers) for row in report.hosts] == [("h", 1)]
    assert kinds(report) == {("slash-root", "/edge/")}
