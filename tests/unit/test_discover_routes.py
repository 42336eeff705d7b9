"""route_table: the routes of the backends layout (SPEC §4) as `service-registrator discover` reads them."""

from __future__ import annotations

import random
import re

import pytest

from agent.core.escape import escape_segment
from agent.core.kv import KeyValue
from agent.discover.routes import Backend, Route, RouteTable, Skipped, identifier, parse_address, route_table

B = "/backends"
SAFE = re.compile(r"[A-Za-z0-9_.:-]+")
HOSTILE_SERVICES = [
    "we\nb", "web#1", "my web", "it's", 'say "hi"', "%0A", "x" * 5000, "}", "{", "\n    server evil 6.6.6.6:1",
    "wéb", "ウェブ", "a/b", "100%", "\r\n", "\x00", "\u2028", "-", ".", ":",
]


def kv(key: str, value: str, revision: int = 1) -> KeyValue:
    return KeyValue(key, value, lease=0, mod_revision=revision, create_revision=revision)


def route_kvs(service: str, n: int, port: str, backends: dict[str, str], revision: int = 1) -> list[KeyValue]:
    base = f"{B}/{escape_segment(service)}/{n}"
    return [kv(f"{base}/port", port, revision)] + [kv(f"{base}/{c}", v, revision) for c, v in backends.items()]


def reasons(table: RouteTable) -> dict[str, str]:
    return {item.key: item.reason for item in table.skipped}


def assert_one_printable_line(table: RouteTable) -> None:
    for item in table.skipped:
        assert item.reason.isprintable() and "\n" not in item.reason and len(item.reason) < 400, item


def assert_safe(table: RouteTable) -> None:
    proxies = [route.proxy for route in table.routes]
    assert len(set(proxies)) == len(proxies)
    for route in table.routes:
        assert SAFE.fullmatch(route.proxy) and len(route.proxy) <= 48 + 20
        servers = [backend.server for backend in route.backends]
        assert servers == sorted(servers) and len(set(servers)) == len(servers)
        for backend in route.backends:
            assert SAFE.fullmatch(backend.server)
            assert parse_address(backend.address) == backend.address
    assert_one_printable_line(table)


# --- valid input


def test_several_services_several_hosts():
    kvs = (route_kvs("web", 1, "80", {"aaaaaaaaaaaa": "10.0.0.1:32768", "bbbbbbbbbbbb": "10.0.0.2:32770"})
           + route_kvs("web", 2, "443", {"aaaaaaaaaaaa": "10.0.0.1:32769"})
           + route_kvs("db", 1, "5432", {"cccccccccccc": "[fd00::7]:15432"}))
    table = route_table(B, kvs)
    assert table.skipped == ()
    assert table.backend_count == 4
    assert table.routes == (
        Route("web", 1, 80, "web-1-80", (Backend("aaaaaaaaaaaa", "10.0.0.1:32768", f"{B}/web/1/aaaaaaaaaaaa"),
                                         Backend("bbbbbbbbbbbb", "10.0.0.2:32770", f"{B}/web/1/bbbbbbbbbbbb")),
              f"{B}/web/1/port"),
        Route("web", 2, 443, "web-2-443", (Backend("aaaaaaaaaaaa", "10.0.0.1:32769", f"{B}/web/2/aaaaaaaaaaaa"),),
              f"{B}/web/2/port"),
        Route("db", 1, 5432, "db-1-5432", (Backend("cccccccccccc", "[fd00::7]:15432", f"{B}/db/1/cccccccccccc"),),
              f"{B}/db/1/port"),
    )


def test_empty_input_gives_the_empty_table():
    assert route_table(B, []) == RouteTable((), ())
    assert route_table(B, []).backend_count == 0


def test_escaped_and_unicode_service_names_are_unescaped_for_logs_and_sanitised_for_haproxy():
    kvs = route_kvs("team/web", 1, "80", {"a": "1.2.3.4:80"}) + route_kvs("100%", 1, "81", {"a": "1.2.3.4:81"}) \
        + route_kvs("wéb ウェブ", 1, "82", {"a": "1.2.3.4:82"})
    table = route_table(B, kvs)
    assert [(r.service, r.proxy) for r in table.routes] == [
        ("team/web", "team_web-1-80"), ("100%", "100_-1-81"), ("wéb ウェブ", "w_b____-1-82")]
    assert table.routes[0].port_key == f"{B}/team%2Fweb/1/port"


def test_ipv6_backends_are_normalised():
    table = route_table(B, route_kvs("web", 1, "80", {"a": "[FD00:0::1]:80", "b": "[::ffff:1.2.3.4]:80"}))
    assert [b.address for b in table.routes[0].backends] == ["[fd00::1]:80", "[::ffff:102:304]:80"]


def test_route_with_a_port_but_no_backends_is_silent():
    table = route_table(B, [kv(f"{B}/web/1/port", "80")])
    assert table == RouteTable((), ())


def test_route_without_backends_claims_no_port():
    kvs = [kv(f"{B}/old/1/port", "80", 1)] + route_kvs("web", 1, "80", {"a": "1.2.3.4:80"}, 5)
    table = route_table(B, kvs)
    assert [r.service for r in table.routes] == ["web"] and table.skipped == ()


# --- malformed keys


@pytest.mark.parametrize("key", [
    f"{B}/web/1/a/b", f"{B}/web/1", f"{B}/web", f"{B}/", f"{B}/web/one/a", f"{B}/web/0/a", f"{B}/web/01/a",
    f"{B}/web/-1/a", f"{B}/web/1000001/a", f"{B}/web/٣/a", f"{B}/web/²/a", f"{B}/web/ 1/a", f"{B}//1/a",
    f"{B}/web/1/", f"{B}/web//a", "/elsewhere/web/1/a", f"{B}x/web/1/a",
])
def test_malformed_keys_are_skipped(key):
    table = route_table(B, [kv(key, "1.2.3.4:80"), kv(f"{B}/web/1/port", "80")])
    assert [item.key for item in table.skipped] == [key]
    assert_one_printable_line(table)


def test_route_number_up_to_a_million():
    table = route_table(B, route_kvs("web", 10**6, "80", {"a": "1.2.3.4:80"}))
    assert table.routes[0].number == 10**6 and table.routes[0].proxy == "web-1000000-80"


# --- hostile values


@pytest.mark.parametrize("value", [
    "1.2.3.4:80\nserver x", "host.example:80", "1.2.3.4:99999", "1.2.3.4:٣", "::1:80", " 1.2.3.4:80",
    "1.2.3.4:80 ", "", "1.2.3.4", ":80", "1.2.3.4:0", "1.2.3.4:-1", "01.2.3.4:80", "1.2.3.256:80", "[1.2.3.4]:80",
    "[fe80::1%eth0]:80", "[fe80::1%0A]:80", "0.0.0.0:80", "[::]:80", "224.0.0.1:80", "1.2.3.4:80\n", "[::1]:80x",
    "1.2.3.4:+80", "1.2.3.4:8_0", "١.2.3.4:80", "[::1]", "[[::1]]:80", "1.2.3.4:80:80", "1.2.3.4:80#x",
])
def test_bad_backend_values_are_skipped(value):
    key = f"{B}/web/1/aaaaaaaaaaaa"
    table = route_table(B, [kv(key, value), kv(f"{B}/web/1/port", "80")])
    assert table.routes == ()
    assert list(reasons(table)) == [key] and reasons(table)[key].startswith("value ")
    assert "is not ip:port" in reasons(table)[key]
    assert_one_printable_line(table)


@pytest.mark.parametrize("value,address", [("[::1]:80", "[::1]:80"), ("1.2.3.4:080", "1.2.3.4:80"),
                                           ("10.0.0.1:65535", "10.0.0.1:65535"), ("[FD00::A]:1", "[fd00::a]:1")])
def test_good_backend_values(value, address):
    table = route_table(B, [kv(f"{B}/web/1/a", value), kv(f"{B}/web/1/port", "80")], local_backends=True)
    assert table.skipped == () and table.routes[0].backends[0].address == address


@pytest.mark.parametrize("port", ["80 ", " 80", "-1", "0", "65536", "8o", "", "٣", "²", "+80", "80\n", "1e3", "99999"])
def test_bad_port_values_skip_the_port_key_and_its_backends(port):
    table = route_table(B, [kv(f"{B}/web/1/port", port), kv(f"{B}/web/1/a", "1.2.3.4:80")])
    assert table.routes == ()
    found = reasons(table)
    assert found[f"{B}/web/1/port"].startswith("port ") and "1..65535" in found[f"{B}/web/1/port"]
    assert found[f"{B}/web/1/a"] == "no valid port key for service 'web' route 1"
    assert_one_printable_line(table)


def test_backends_without_any_port_key_are_skipped():
    table = route_table(B, [kv(f"{B}/web/1/a", "1.2.3.4:80"), kv(f"{B}/web/1/b", "1.2.3.5:80")])
    assert table.routes == ()
    assert reasons(table) == {f"{B}/web/1/a": "no valid port key for service 'web' route 1",
                              f"{B}/web/1/b": "no valid port key for service 'web' route 1"}


def test_one_bad_backend_leaves_the_others():
    table = route_table(B, route_kvs("web", 1, "80", {"a": "1.2.3.4:80", "b": "evil\n:80"}))
    assert [b.server for b in table.routes[0].backends] == ["a"]
    assert list(reasons(table)) == [f"{B}/web/1/b"]


@pytest.mark.parametrize("service", HOSTILE_SERVICES)
def test_hostile_service_names_give_safe_identifiers_and_reasons(service):
    kvs = route_kvs(service, 1, "80", {"aaaaaaaaaaaa": "1.2.3.4:80"})
    kvs += [kv(f"{B}/{escape_segment(service)}/2/bbbbbbbbbbbb", "1.2.3.4:81")]  # no port key: skipped
    table = route_table(B, kvs)
    assert_safe(table)
    assert table.routes[0].service == service
    assert table.routes[0].proxy.endswith("-1-80") and len(table.routes[0].proxy) <= 48 + len("-1-80")
    assert len(table.skipped) == 1


@pytest.mark.parametrize("container", ["we\nb", "x" * 5000, "}", "\n    server evil 6.6.6.6:1", "a b", "é", "%2F"])
def test_hostile_container_segments_give_safe_server_names(container):
    table = route_table(B, route_kvs("web", 1, "80", {container: "1.2.3.4:80"}))
    assert_safe(table)
    assert len(table.routes[0].backends[0].server) <= 32


# --- port conflicts


def test_port_conflict_first_registered_wins_and_both_are_named():
    kvs = route_kvs("web", 1, "8080", {"a": "1.2.3.4:1"}, revision=3) \
        + route_kvs("api", 1, "8080", {"b": "1.2.3.4:2"}, revision=7)
    table = route_table(B, kvs)
    assert [r.service for r in table.routes] == ["web"]
    assert reasons(table) == {f"{B}/api/1/port": "port 8080 is already routed for service 'web' route 1 "
                                                 "(registered first); service 'api' route 1 skipped"}


def test_port_conflict_reverse_revision_order():
    kvs = route_kvs("web", 1, "8080", {"a": "1.2.3.4:1"}, revision=9) \
        + route_kvs("api", 1, "8080", {"b": "1.2.3.4:2"}, revision=2)
    table = route_table(B, kvs)
    assert [r.service for r in table.routes] == ["api"]
    (reason,) = reasons(table).values()
    assert "'api' route 1 (registered first)" in reason and "service 'web' route 1 skipped" in reason
    assert list(reasons(table)) == [f"{B}/web/1/port"]


def test_port_conflict_on_equal_revisions_goes_by_key():
    kvs = route_kvs("web", 1, "80", {"a": "1.2.3.4:1"}, 4) + route_kvs("api", 1, "80", {"b": "1.2.3.4:2"}, 4)
    assert [r.service for r in route_table(B, kvs).routes] == ["api"]


def test_port_conflict_within_one_service():
    kvs = route_kvs("web", 1, "80", {"a": "1.2.3.4:1"}, 5) + route_kvs("web", 2, "80", {"a": "1.2.3.4:2"}, 3)
    table = route_table(B, kvs)
    assert [(r.service, r.number) for r in table.routes] == [("web", 2)]
    assert reasons(table) == {f"{B}/web/1/port": "port 80 is already routed for service 'web' route 2 "
                                                 "(registered first); service 'web' route 1 skipped"}


def test_three_claimants_of_one_port():
    kvs = (route_kvs("a", 1, "80", {"x": "1.2.3.4:1"}, 5) + route_kvs("b", 1, "80", {"x": "1.2.3.4:1"}, 2)
           + route_kvs("c", 1, "80", {"x": "1.2.3.4:1"}, 9))
    table = route_table(B, kvs)
    assert [r.service for r in table.routes] == ["b"]
    assert sorted(reasons(table)) == [f"{B}/a/1/port", f"{B}/c/1/port"]
    assert all("service 'b' route 1 (registered first)" in reason for reason in reasons(table).values())


def test_services_that_sanitise_alike_still_get_unique_proxies():
    kvs = route_kvs("a b", 1, "80", {"x": "1.2.3.4:1"}) + route_kvs("a#b", 1, "81", {"x": "1.2.3.4:1"}) \
        + route_kvs("a_b", 1, "82", {"x": "1.2.3.4:1"})
    assert [r.proxy for r in route_table(B, kvs).routes] == ["a_b-1-80", "a_b-1-81", "a_b-1-82"]


def test_long_service_names_sharing_a_prefix_get_unique_proxies():
    kvs = route_kvs("x" * 100 + "1", 1, "80", {"x": "1.2.3.4:1"}) \
        + route_kvs("x" * 100 + "2", 1, "81", {"x": "1.2.3.4:1"})
    proxies = [r.proxy for r in route_table(B, kvs).routes]
    assert proxies == ["x" * 48 + "-1-80", "x" * 48 + "-1-81"]


# --- server names


def test_server_name_collisions_get_suffixes_in_key_order():
    table = route_table(B, route_kvs("web", 1, "80", {"a b": "1.2.3.4:1", "a#b": "1.2.3.4:2", "a_b": "1.2.3.4:3",
                                                      "a_b-2": "1.2.3.4:4"}))
    servers = {b.key.rsplit("/", 1)[-1]: b.server for b in table.routes[0].backends}
    # key order: "a b" < "a#b" < "a_b" < "a_b-2"
    assert servers == {"a b": "a_b", "a#b": "a_b-2", "a_b": "a_b-3", "a_b-2": "a_b-2-2"}
    assert_safe(table)


def test_long_container_segments_sharing_a_prefix_get_unique_servers():
    table = route_table(B, route_kvs("web", 1, "80", {"c" * 40 + "1": "1.2.3.4:1", "c" * 40 + "2": "1.2.3.4:2"}))
    assert [b.server for b in table.routes[0].backends] == ["c" * 32, "c" * 32 + "-2"]


# --- determinism


def hostile_fleet() -> list[KeyValue]:
    kvs: list[KeyValue] = []
    for i, service in enumerate(HOSTILE_SERVICES):
        kvs += route_kvs(service, 1, str(8000 + i % 7), {"a b": f"10.0.{i}.1:80", "a#b": f"[fd00::{i}]:80",
                                                         "bad": "host.example:80"}, revision=100 - i)
        kvs += [kv(f"{B}/{escape_segment(service)}/x/y", "1.2.3.4:80")]
    return kvs


def test_same_input_in_any_order_gives_an_equal_table():
    kvs = hostile_fleet()
    expected = route_table(B, kvs)
    assert len(expected.routes) == 7 and expected.skipped
    assert_safe(expected)
    for seed in range(20):
        shuffled = list(kvs)
        random.Random(seed).shuffle(shuffled)
        assert route_table(B, shuffled) == expected
    assert [r.port for r in expected.routes] == sorted(r.port for r in expected.routes)
    assert [s.key for s in expected.skipped] == sorted(s.key for s in expected.skipped)


def test_a_key_given_twice_keeps_its_latest_value_in_any_order():
    kvs = [kv(f"{B}/web/1/port", "80", 1), kv(f"{B}/web/1/a", "1.2.3.4:1", 2), kv(f"{B}/web/1/a", "1.2.3.4:2", 3)]
    assert route_table(B, kvs) == route_table(B, kvs[::-1])
    assert route_table(B, kvs).routes[0].backends[0].address == "1.2.3.4:2"


def test_identifier_keeps_only_haproxy_safe_characters():
    assert identifier("Ab9_.:-", 48) == "Ab9_.:-"
    assert identifier("a\nb c#d'e\"f%g/h{i}jé", 48) == "a_b_c_d_e_f_g_h_i_j_"
    assert identifier("x" * 100, 32) == "x" * 32


def test_skipped_is_a_plain_value():
    assert Skipped("k", "r") == Skipped("k", "r")


@pytest.mark.parametrize("value", ["127.0.0.1:2379", "127.9.9.9:80", "169.254.169.254:80", "[::1]:2375",
                                   "[fe80::1]:80", "[::ffff:127.0.0.1]:2379", "[::ffff:169.254.1.1]:80"])
def test_loopback_and_link_local_backends_are_skipped_unless_allowed(value):
    """Defect 11: such a value made every discover host proxy to its own port (etcd, the Docker API, a cloud's
    metadata service), exposed with --bind 0.0.0.0."""
    key = f"{B}/web/1/aaaaaaaaaaaa"
    keys = [kv(key, value), kv(f"{B}/web/1/port", "80")]
    table = route_table(B, keys)
    assert table.routes == () and list(reasons(table)) == [key]
    assert "loopback or link-local" in reasons(table)[key] and "EC_REGISTRATOR_DISCOVER_LOCAL_BACKENDS" in \
        reasons(table)[key]
    assert_one_printable_line(table)
    assert route_table(B, keys, local_backends=True).skipped == ()


def test_the_route_serving_a_port_keeps_it_when_its_port_key_comes_back_newer():
    """Defect 10: x held 8080 and y was skipped; x's port key died with its host and another host of x put it
    back (a newer create revision): y won 8080 on every discover host. The route serving a port keeps it while
    it has backends."""
    x = [KeyValue(f"{B}/x/1/port", "8080", 0, 9, 9), kv(f"{B}/x/1/aaaaaaaaaaaa", "10.0.0.1:1")]
    y = [KeyValue(f"{B}/y/1/port", "8080", 0, 5, 5), kv(f"{B}/y/1/bbbbbbbbbbbb", "10.0.0.2:1")]
    fresh = route_table(B, [*x, *y])
    assert [route.service for route in fresh.routes] == ["y"]  # nothing served yet: registered first
    served = route_table(B, [*x, *y], owners={8080: ("x", 1)})
    assert [route.service for route in served.routes] == ["x"]
    assert any("(serving it)" in reason for reason in reasons(served).values())
    gone = route_table(B, y, owners={8080: ("x", 1)})  # x has no backends left: the port moves on
    assert [route.service for route in gone.routes] == ["y"]


def test_a_port_conflict_is_decided_by_create_revision_not_mod_revision():
    """Audit: deciding by mod_revision left every unit test green (their helpers made the two equal). Here x's
    port key was created first and updated last; y's created later and never updated."""
    x = [KeyValue(f"{B}/x/1/port", "8080", 0, 20, 3), kv(f"{B}/x/1/aaaaaaaaaaaa", "10.0.0.1:1")]
    y = [KeyValue(f"{B}/y/1/port", "8080", 0, 10, 10), kv(f"{B}/y/1/bbbbbbbbbbbb", "10.0.0.2:1")]
    assert [route.service for route in route_table(B, [*y, *x]).routes] == ["x"]
