"""The fakes behave as the adapters they stand for (etcd's revisions, leases and watch feed; Docker's list)."""

import pytest

from agent.adapters.docker_engine import DockerUnavailable
from agent.adapters.etcd_errors import EtcdRequestError, EtcdUnavailable, LeaseNotFound
from agent.core.kv import WatchEvent
from agent.core.plan import Delete, Put
from tests.fakes.docker import FakeDocker, container
from tests.fakes.etcd import FakeEtcd


def test_one_revision_per_change_none_for_nothing():
    etcd = FakeEtcd()
    assert etcd.rev == 1
    assert etcd.txn([Put("/a", "1"), Put("/b/c", "2")], 0) == 2
    assert etcd.txn([Delete("/missing")], 0) == 2 and etcd.txn([], 0) == 2
    assert etcd.txn([Put("/a", "1")], 0) == 3  # a put always makes a revision, as in etcd
    assert etcd.delete_prefix("/b/") == 1 and etcd.rev == 4
    assert etcd.delete_prefix("/b/") == 0 and etcd.rev == 4
    with pytest.raises(EtcdRequestError):
        etcd.txn([Put("/a", "1"), Delete("/a")], 0)
    with pytest.raises(EtcdRequestError):
        etcd.txn([Put(f"/k{n}", "") for n in range(129)], 0)
    assert etcd.rev == 4


def test_read_keys_and_prefixes_and_count_them():
    etcd = FakeEtcd()
    etcd.put_many({"/r/a": "1", "/r/b/x": "2", "/r/bb": "3", "/s/a": "4"})
    found, revision = etcd.read(keys=["/r/a", "/nope"], prefixes=["/r/b/"])
    assert [(kv.key, kv.value, kv.mod_revision) for kv in found] == [("/r/a", "1", 2), ("/r/b/x", "2", 2)]
    assert revision == 2 and etcd.keys_read == 2
    assert etcd.read() == ([], 0)


def test_leases_expire_with_their_keys_in_one_revision():
    etcd = FakeEtcd()
    lease = etcd.lease_grant(10)
    etcd.txn([Put("/a", "1"), Put("/b", "2")], lease)
    etcd.put("/c", "3")
    etcd.advance(4)
    info = etcd.lease_info(lease, keys=True)
    assert (info.granted, info.remaining, info.silence, info.keys) == (10, 6, 4, ("/a", "/b"))
    assert etcd.lease_refresh(lease) == 10 and etcd.lease_info(lease).remaining == 10
    etcd.advance(10)
    assert lease not in etcd.leases and list(etcd.kvs) == ["/c"] and etcd.rev == 4
    assert etcd.lease_info(lease) == etcd.lease_info(12345) and not etcd.lease_info(lease).alive
    assert etcd.lease_refresh(lease) == -1
    with pytest.raises(LeaseNotFound):
        etcd.txn([Put("/a", "1")], lease)
    etcd.lease_revoke(lease)  # already gone: nothing happens, as with the adapter


def test_revoke_deletes_the_keys_and_the_watch_feed_reports_everything():
    etcd = FakeEtcd()
    lease = etcd.lease_grant(30)
    etcd.put("/r/a", "1", lease)
    etcd.put("/r/b", "2")
    etcd.lease_revoke(lease)
    assert etcd.events == [WatchEvent("/r/a", "1", lease, 2, False, 2), WatchEvent("/r/b", "2", 0, 3, False, 3),
                           WatchEvent("/r/a", "", 0, 4, True)]
    assert etcd.events_since(3, "/r/") == etcd.events[1:]
    assert etcd.events_since(1, "/r/a") == [etcd.events[0], etcd.events[2]]
    assert etcd.events_since(1, ["/r/b", "/x/"]) == [etcd.events[1]]


def test_outages():
    etcd = FakeEtcd()
    etcd.fail_next(2, call="txn")
    assert etcd.read(["/a"])[0] == []
    for _ in range(2):
        with pytest.raises(EtcdUnavailable):
            etcd.txn([Put("/a", "1")], 0)
    assert etcd.txn([Put("/a", "1")], 0) == 2
    etcd.available = False
    with pytest.raises(EtcdUnavailable):
        etcd.lease_grant(30)
    etcd.put("/b", "2")  # a foreign client's write is not ours to refuse


def test_fake_docker():
    docker = FakeDocker("no_ports", "paused", "service_named")  # no_ports and paused share one id
    renamed = container("no_ports", cid="1" * 64, new_name="other", team="x")
    docker.add(renamed)
    assert docker.running_ids() == [container("service_named")["Id"], "1" * 64]
    assert docker.inspect("1" * 64)["Config"]["Labels"] == {"team": "x"}
    docker.stop("1" * 64)
    assert "1" * 64 not in docker.running_ids()
    docker.remove("1" * 64)
    assert docker.inspect("1" * 64) is None
    docker.available = False
    with pytest.raises(DockerUnavailable):
        docker.running_ids()


def test_the_fake_keeps_create_revision_as_etcd_does():
    """An update keeps a key's create_revision, a put after a delete sets it anew (the writer and discover's
    route table read it: who registered first)."""
    etcd = FakeEtcd()
    first = etcd.put("/k", "a")
    etcd.put("/other", "x")
    updated = etcd.put("/k", "b")
    assert (etcd.kvs["/k"].create_revision, etcd.kvs["/k"].mod_revision) == (first, updated)
    etcd.delete("/k")
    again = etcd.put("/k", "c")
    assert etcd.kvs["/k"].create_revision == again
    assert [event.create_revision for event in etcd.events_since(0, "/k") if not event.deleted] == [first, first,
                                                                                                     again]


def test_pages_as_etcd_pages_a_range_at_one_revision():
    etcd = FakeEtcd()
    lease = etcd.lease_grant(10)
    etcd.put_many({"/r/b": "2", "/r/a": "1", "/r/\u00e9": "3", "/r/c/d": "4", "/rx": "5"}, lease)
    pages = etcd.pages("/r/", limit=2, keys_only=True)
    first, at = next(pages)
    assert [(kv.key, kv.value, kv.lease) for kv in first] == [("/r/a", "", lease), ("/r/b", "", lease)]
    etcd.put("/r/aa", "new")  # after the revision the pages are read at: not in them
    assert [([kv.key for kv in page], revision) for page, revision in pages] == [(["/r/c/d", "/r/\u00e9"], at)]
    assert etcd.calls["pages"] == 2  # 4 keys, 2 a page: the second page says no more are left
    assert [kv.value for page, _ in etcd.pages("/r/", revision=at) for kv in page] == ["1", "2", "4", "3"]
    assert [kv.key for page, _ in etcd.pages("/r/") for kv in page][:2] == ["/r/a", "/r/aa"]
    assert list(etcd.pages("/nothing/")) == [([], etcd.rev)]
    with pytest.raises(EtcdRequestError):
        next(etcd.pages("/r/", revision=at - 1))
