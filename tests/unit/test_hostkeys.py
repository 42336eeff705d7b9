"""What a full comparison reads: this host's keys only, found through its host index and its marker
(SPEC §6: bounded by the host); the layouts' answers that lead it; shared keys that stay."""

import pytest

from agent.core.kv import KeyValue
from agent.core.marker import RUNNING, Marker
from agent.core.ownership import still_shared
from agent.daemon.hostread import read_host_keys
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout
from tests.fakes.docker import container
from tests.fakes.etcd import FakeEtcd
from tests.unit.fleet import other_hosts

P, B, H, HOST_IP = "/registry", "/backends", "h1", "10.1.2.3"
MARKER = f"{P}/agents/{H}"
FORMER = "f" * 64


def ec():
    return EcLayout(P, H)


def backends():
    return BackendsLayout(B, HOST_IP)


def put_all(etcd, keys, lease=0):
    etcd.put_many(keys, lease)


def test_ec_finds_a_former_containers_keys_through_the_host_index_in_three_rounds():
    etcd = FakeEtcd()
    theirs = other_hosts(etcd, 50)
    former = ec().container_keys(container("hostile_labels", cid=FORMER, new_name="gone"))
    assert sum(key.startswith(f"{P}/labels/") for key in former) == 4
    put_all(etcd, former)
    etcd.put(MARKER, Marker(H, 0, RUNNING, "x").encode())
    etcd.calls.clear()
    etcd.keys_read = 0
    found, revision = read_host_keys(etcd, [ec()], MARKER, (), wanted={}, container_ids=())
    assert {kv.key: kv.value for kv in found} == {**former, MARKER: etcd.value(MARKER)}
    assert revision == etcd.rev
    assert etcd.calls["read"] == 3  # host index and marker; the container's subtree; its label index keys
    assert etcd.keys_read == len(former) + 1
    assert not set(theirs) & {kv.key for kv in found}


def test_reads_what_is_wanted_and_on_the_lease_whatever_the_number_of_other_hosts():
    def reads(others):
        etcd = FakeEtcd()
        other_hosts(etcd, others)
        lease = etcd.lease_grant(30)
        data = container("three_ports")
        wanted = {**ec().container_keys(data), **backends().container_keys(data)}
        put_all(etcd, wanted, lease)
        etcd.put(f"{P}/containers/{'e' * 64}/id", "e" * 64, lease)  # on our lease, no index points to it
        etcd.keys_read = 0
        known = etcd.lease_info(lease, keys=True).keys
        found, _ = read_host_keys(etcd, [ec(), backends()], MARKER, known, wanted, container_ids={data["Id"]})
        assert {kv.key for kv in found} == {*wanted, f"{P}/containers/{'e' * 64}/id"}
        return etcd.keys_read, etcd.calls["read"]

    assert reads(0) == reads(1000)


def test_ttl_0_follows_the_keys_recorded_in_the_marker():
    etcd = FakeEtcd()
    other_hosts(etcd, 3)  # they run `web` too: B/web/n/ groups hold their keys
    data = container("three_ports", cid=FORMER)
    former_b = backends().container_keys(data)
    put_all(etcd, ec().container_keys(data))
    put_all(etcd, former_b)
    etcd.put(MARKER, Marker(H, 0, RUNNING, "x", keys=tuple(sorted(former_b))).encode())
    found, _ = read_host_keys(etcd, [ec(), backends()], MARKER, (), wanted={}, container_ids=())
    keys = {kv.key for kv in found}
    assert set(former_b) <= keys and set(ec().container_keys(data)) <= keys
    # the groups of the shared `port` keys it no longer wants are read whole: another host may stand there
    beside = {key for key in etcd.kvs if key.startswith((f"{B}/web/", f"{B}/web-tls/"))} - set(former_b)
    assert len(beside) == 3 * 3
    assert keys == {*former_b, *ec().container_keys(data), MARKER, *beside}


def test_ttl_0_without_a_record_finds_no_backends_keys():
    etcd = FakeEtcd()
    data = container("three_ports", cid=FORMER)
    put_all(etcd, backends().container_keys(data))
    etcd.put(MARKER, Marker(H, 0, RUNNING, "x").encode())
    found, _ = read_host_keys(etcd, [ec(), backends()], MARKER, (), wanted={}, container_ids=())
    assert [kv.key for kv in found] == [MARKER]


def test_nothing_stored_is_one_read():
    etcd = FakeEtcd()
    found, revision = read_host_keys(etcd, [ec()], MARKER, (), wanted={}, container_ids=())
    assert (found, revision, etcd.calls["read"]) == ([], 1, 1)


# -- the layouts' parts of it ------------------------------------------------------------------------


def test_host_prefixes():
    assert ec().host_prefixes() == (f"{P}/hosts/{H}/", f"{P}/{H}/")
    assert EcLayout(P, "a/b%").host_prefixes() == (f"{P}/hosts/a%2Fb%25/", f"{P}/a%2Fb%25/")
    assert backends().host_prefixes() == ()


def test_watched():
    data = container("three_ports")
    wanted = {**ec().container_keys(data), **backends().container_keys(data)}
    assert ec().watched(wanted) == {f"{P}/hosts/{H}/", f"{P}/{H}/"}
    assert ec().watched(()) == {f"{P}/hosts/{H}/", f"{P}/{H}/"}
    assert backends().watched(wanted) == {f"{B}/web/", f"{B}/web-tls/"}
    assert backends().watched(()) == set()


def test_ec_more_to_read():
    layout = ec()
    cid, known = "a" * 64, "k" * 64
    found = {
        f"{P}/hosts/{H}/web": cid,
        f"{P}/{H}/web": cid,
        f"{P}/hosts/{H}/odd": "not/an/id",  # a value with a slash names no container
        f"{P}/containers/{cid}/labels/x": "1",
        f"{P}/containers/{cid}/labels/a%2Fb": "2",
        f"{P}/containers/{cid}/labels/x/deeper": "3",
        f"{P}/containers/{'b' * 64}/labels/y": "4",  # not a container of ours
    }
    keys, prefixes = layout.more_to_read(found, wanted=(), container_ids={known})
    assert keys == {f"{P}/labels/x/{cid}", f"{P}/labels/a%2Fb/{cid}"}
    assert prefixes == {f"{P}/containers/{cid}/", f"{P}/containers/{known}/"}


def test_backends_more_to_read():
    layout = backends()
    found = {f"{B}/web/1/port": "53", f"{B}/web/2/port": "80", f"{B}/web/1/aaaaaaaaaaaa": "1.2.3.4:1"}
    assert layout.more_to_read(found, wanted={f"{B}/web/2/port"}, container_ids=()) == (set(), {f"{B}/web/1/"})


def test_recorded():
    assert not ec().recorded(f"{P}/containers/{FORMER}/id")
    assert backends().recorded(f"{B}/web/1/port") and backends().recorded(f"{B}/web/1/aaaaaaaaaaaa")
    assert not backends().recorded(f"{B}x/web/1/port") and not backends().recorded(f"{P}/hosts/{H}/x")


def kv(key, lease=0):
    return KeyValue(key, "v", lease, 2)


@pytest.mark.parametrize(("stored", "leaving", "staying"), [
    # another host's container key beside the port: the port stays
    ([f"{B}/web/1/port", f"{B}/web/1/aaaaaaaaaaaa", f"{B}/web/1/bbbbbbbbbbbb"],
     {f"{B}/web/1/port", f"{B}/web/1/aaaaaaaaaaaa"}, {f"{B}/web/1/port"}),
    # alone once ours leaves: the port goes
    ([f"{B}/web/1/port", f"{B}/web/1/aaaaaaaaaaaa"], {f"{B}/web/1/port", f"{B}/web/1/aaaaaaaaaaaa"}, set()),
    # a key in another group does not count
    ([f"{B}/web/1/port", f"{B}/web/2/bbbbbbbbbbbb", f"{B}/web/10/bbbbbbbbbbbb"], {f"{B}/web/1/port"}, set()),
    # an unshared key is never kept
    ([f"{B}/web/1/aaaaaaaaaaaa", f"{B}/web/1/bbbbbbbbbbbb"], {f"{B}/web/1/aaaaaaaaaaaa"}, set()),
])
def test_still_shared(stored, leaving, staying):
    assert still_shared([kv(key) for key in stored], leaving, backends().shared) == staying


def test_under_is_a_prefix_test_on_slash_boundaries():
    from agent.daemon.hostread import under

    prefixes = {"/r/containers/abc/", "/r/hosts/h1/"}
    assert under("/r/containers/abc/labels/x", prefixes)
    assert under("/r/hosts/h1/web", prefixes)
    assert not under("/r/containers/abcd/id", prefixes)
    assert not under("/r/containers/ab", prefixes)
    assert not under("/r/hosts/h1", prefixes)
