"""BackendsFollower: a copy of the whole backends root, read once and kept by one watch; events the copy
already holds (read after them) never change it."""

from __future__ import annotations

import gevent
import gevent.event
import pytest

from agent.core.kv import KeyValue, WatchEvent, WatchReply
from agent.core.messages import KeysChanged, Resync
from agent.discover import follower as follower_module
from agent.discover.follower import BackendsFollower
from agent.retry import Policy
from tests.fakes.etcd import FakeEtcd

B = "/backends"


class WatchingEtcd(FakeEtcd):
    """The fake etcd with a watch: what was written since the start revision, then nothing more."""

    def __init__(self) -> None:
        super().__init__()
        self.watched: list[tuple[str, int]] = []

    def watch(self, key: str, start_revision: int):
        self.watched.append((key, start_revision))
        yield WatchReply(self.rev, tuple(self.events_since(start_revision, key)))
        gevent.event.Event().wait()


@pytest.fixture
def etcd() -> WatchingEtcd:
    fake = WatchingEtcd()
    fake.put(f"{B}/web/1/port", "80")
    fake.put(f"{B}/web/1/c1", "10.0.0.1:80")
    fake.put("/backends2/web/1/port", "81")  # another root that merely starts alike
    fake.put("/other", "x")
    return fake


@pytest.fixture
def calls() -> list[int]:
    return []


@pytest.fixture
def follower(etcd: WatchingEtcd, calls: list[int]) -> BackendsFollower:
    return BackendsFollower(etcd, B, lambda: calls.append(1))  # type: ignore[arg-type]


def put(key: str, value: str, revision: int, created: int | None = None) -> WatchEvent:
    return WatchEvent(key, value, 0, revision, False, revision if created is None else created)


def delete(key: str, revision: int) -> WatchEvent:
    return WatchEvent(key, "", 0, revision, True)


def values(follower: BackendsFollower) -> dict[str, str]:
    return {key: kv.value for key, kv in follower.keys.items()}


def test_load_reads_the_whole_root_only(follower, etcd):
    assert follower.load() == etcd.rev
    assert values(follower) == {f"{B}/web/1/port": "80", f"{B}/web/1/c1": "10.0.0.1:80"}
    assert follower.read_at == follower.revision == etcd.rev


def test_events_after_the_read_are_applied_once_per_batch(follower, etcd, calls):
    at = follower.load()
    follower._take(KeysChanged((put(f"{B}/db/1/port", "5432", at + 1, created=at + 1),
                                put(f"{B}/web/1/c1", "10.0.0.9:80", at + 2, created=3),
                                delete(f"{B}/web/1/port", at + 3))))
    assert calls == [1]
    assert values(follower) == {f"{B}/db/1/port": "5432", f"{B}/web/1/c1": "10.0.0.9:80"}
    assert follower.keys[f"{B}/web/1/c1"] == KeyValue(f"{B}/web/1/c1", "10.0.0.9:80", 0, at + 2, 3)
    assert follower.revision == at + 3 and follower.read_at == at


def test_every_event_of_one_revision_is_applied(follower, etcd):
    at = follower.load()
    revision = etcd.put_many({f"{B}/db/1/port": "5432", f"{B}/db/1/c1": "10.0.0.2:5432", f"{B}/db/1/c2": "[fd00::2]:1"})
    follower._take(KeysChanged(tuple(etcd.events_since(at + 1, B + "/"))))
    assert values(follower) == {key: kv.value for key, kv in etcd.kvs.items() if key.startswith(B + "/")}
    assert follower.revision == revision


def test_events_the_read_already_holds_are_ignored(follower, etcd, calls):
    at = follower.load()
    follower._take(KeysChanged((put(f"{B}/gone/1/port", "1", at - 1), delete(f"{B}/web/1/c1", at))))
    assert values(follower) == {f"{B}/web/1/port": "80", f"{B}/web/1/c1": "10.0.0.1:80"}
    assert follower.revision == at and calls == [1]


def test_a_resync_reads_again_and_replayed_events_resurrect_nothing(follower, etcd, calls):
    """The watch fell behind compaction: the root is read whole again, then the watch resumes from the
    compaction revision and replays changes the new read already holds."""
    at = follower.load()
    etcd.put(f"{B}/db/1/port", "5432")
    etcd.delete(f"{B}/db/1/port")
    etcd.delete(f"{B}/web/1/c1")
    follower._take(Resync("watch compacted"))
    assert follower.read_at == etcd.rev and calls == [1]
    assert values(follower) == {f"{B}/web/1/port": "80"}
    for event in etcd.events_since(at + 1, B + "/"):  # one batch each: no moment shows a deleted key
        follower._take(KeysChanged((event,)))
        assert values(follower) == {f"{B}/web/1/port": "80"}
    assert calls == [1, 1, 1, 1] and follower.revision == follower.read_at
    follower._take(KeysChanged((put(f"{B}/web/1/c2", "10.0.0.2:80", etcd.rev + 1),)))
    assert values(follower) == {f"{B}/web/1/port": "80", f"{B}/web/1/c2": "10.0.0.2:80"}


def test_a_resync_while_etcd_is_away_keeps_trying(follower, etcd, monkeypatch, caplog):
    monkeypatch.setattr(follower_module, "WATCH", Policy(first=0.001, most=0.001))
    follower.load()
    etcd.delete(f"{B}/web/1/c1")
    etcd.fail_next(2, call="pages")
    follower._take(Resync("watch compacted"))
    assert values(follower) == {f"{B}/web/1/port": "80"} and etcd.calls["pages"] == 4
    assert sum("cannot read /backends/ again" in r.getMessage() for r in caplog.records) == 2


def test_run_watches_the_root_from_the_revision_after_the_read(follower, etcd, calls):
    at = follower.load()
    etcd.put(f"{B}/web/1/c2", "10.0.0.2:80")
    etcd.put("/backends2/web/1/c2", "10.0.0.3:80")
    runner = gevent.spawn(follower.run)
    try:
        for _ in range(3):
            gevent.sleep(0)
        assert etcd.watched == [(B + "/", at + 1)]
        assert follower.keys[f"{B}/web/1/c2"].value == "10.0.0.2:80" and calls == [1]
        assert not any(key.startswith("/backends2") for key in follower.keys)
    finally:
        runner.kill()


def test_load_reads_the_root_in_pages_at_one_revision(etcd, calls):
    """Issue 25: the root in range requests of a bounded size, every page at the revision of the first (a write
    between two pages is not in the copy; the watch brings it)."""
    etcd.put_many({f"{B}/api/{n}/c{n}": f"10.0.0.{n}:80" for n in range(5)})
    follower = BackendsFollower(etcd, B, lambda: calls.append(1), page_size=2)  # type: ignore[arg-type]
    pages = etcd.pages

    def writing_between_pages(*args, **kwargs):
        for number, page in enumerate(pages(*args, **kwargs)):
            yield page
            if number == 0:
                etcd.put(f"{B}/zzz/1/late", "10.0.0.9:80")

    etcd.pages = writing_between_pages
    at = follower.load()
    assert etcd.calls["pages"] == 4 and at == etcd.rev - 1  # 7 keys, 2 a page; read before the late write
    assert set(follower.keys) == {f"{B}/web/1/port", f"{B}/web/1/c1", *(f"{B}/api/{n}/c{n}" for n in range(5))}
