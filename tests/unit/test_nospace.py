"""etcd out of space (issue 22), driven against the fake etcd's NOSPACE alarm: one line that says what it is and
what to do, said once an episode; only the alarm list is asked while it lasts; the host exact at the first retry
after it is gone. RESOURCE_EXHAUSTED without the alarm ("too many requests") is an ordinary failed write."""

from __future__ import annotations

import logging

from agent.adapters.etcd_errors import RESOURCE_EXHAUSTED, EtcdRequestError
from tests.fakes.docker import container
from tests.unit.test_writer import Host, no_spread  # noqa: F401  (autouse: retries due at once)


def late_start(host: Host) -> None:
    late = container("no_ports", cid="d" * 64, new_name="late")
    host.docker.add(late)
    host.event(late["Id"], "start")


def retry(host: Host) -> None:
    assert host.writer._schedule.retry_due()
    host.writer._retry()


def lines(caplog, level: int) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == level]


def test_out_of_space_is_said_once_and_the_host_is_exact_at_the_first_retry_after_it(caplog):
    host = Host().sync()
    host.etcd.nospace = True
    with caplog.at_level(logging.INFO):
        late_start(host)
        reads = host.etcd.calls["read"]
        for _ in range(5):
            retry(host)
        assert host.etcd.calls["read"] == reads, "a full comparison while etcd is still out of space"
        assert host.etcd.calls["out_of_space"] == 1 + 5
        assert host.writer.status()["in_sync"] == 0.0
        host.etcd.nospace = False
        retry(host)
    assert host.etcd.under("/") == host.picture()
    assert host.writer.status()["in_sync"] == 1.0
    errors = lines(caplog, logging.ERROR)
    assert len(errors) == 1 and all(word in errors[0] for word in ("out of space", "NOSPACE", "compact", "defrag",
                                                                     "alarm disarm"))
    assert not lines(caplog, logging.WARNING)
    assert sum("takes writes again" in line for line in lines(caplog, logging.INFO)) == 1


def test_a_second_episode_is_said_again():
    host = Host().sync()
    for _ in range(2):
        host.etcd.nospace = True
        late_start(host)
        host.etcd.nospace = False
        retry(host)
        assert host.writer.status()["in_sync"] == 1.0
        host.docker.remove("d" * 64)
        host.event("d" * 64, "destroy")
    assert not host.writer._nospace.raised


def test_too_many_requests_is_an_ordinary_failed_write(caplog):
    """RESOURCE_EXHAUSTED is also etcd's "too many requests": without the alarm it is not out of space."""
    host = Host().sync()
    host.etcd.fail_next(exc=EtcdRequestError("etcd kv/txn: etcdserver: too many requests", RESOURCE_EXHAUSTED),
                        call="txn")
    with caplog.at_level(logging.INFO):
        late_start(host)
    assert not lines(caplog, logging.ERROR)
    assert any("etcd out of step" in line for line in lines(caplog, logging.WARNING))
    retry(host)
    assert host.etcd.under("/") == host.picture()
