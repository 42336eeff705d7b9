"""`status` against the fake etcd (issue 25): the whole registry read in pages at one revision, `--summary`,
`--host`, `--service`, progress on a terminal, and a slow etcd told as slow."""

from __future__ import annotations

import json
import socket

import pytest

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_connection import Members
from agent.adapters.etcd_errors import EtcdSlow
from agent.settings import ConfigError, Endpoint
from agent.status import main as status_main
from agent.status.registry import Registry
from agent.status.settings import load
from agent.status.views import ContainerRow
from tests.fakes.etcd import FakeEtcd, _Lease
from tests.unit.test_status_report import (
    CID_A,
    EC,
    LEASE_A,
    LEASE_B,
    LEASES,
    B,
    T,
    container,
    fleet,
    kv,
    report_of,
)

FLAGS = ["--etcd-dir", EC, "--backends-dir", B, "--traefik-root", T]


@pytest.fixture
def etcd(monkeypatch) -> FakeEtcd:
    """The fleet of test_status_report planted as is (its lease ids, their TTLs left as LEASES says)."""
    fake = FakeEtcd()
    for item in fleet():
        fake.kvs[item.key] = item
    fake.leases = {lease: _Lease(info.granted, fake.now + info.remaining) for lease, info in LEASES.items()}
    fake.rev = 42
    monkeypatch.setattr(status_main.Etcd, "from_config", lambda config: fake)
    return fake


def test_the_whole_registry_is_read_in_pages_at_the_revision_of_the_first(etcd):
    pages = etcd.pages

    def writing_between_pages(*args, **kwargs):
        for number, page in enumerate(pages(*args, **kwargs)):
            yield page
            if number == 0 and etcd.rev == 42:
                etcd.put(f"{EC}/stray", "1")  # on no lease: an anomaly, were it read

    etcd.pages = writing_between_pages
    report = status_main.read_report(load([*FLAGS, "--page-size", "4"], {}))
    assert report == report_of(fleet())
    assert etcd.calls["pages"] >= len(fleet()) / 4 and etcd.calls["read"] == 0


def test_the_summary_reads_markers_and_host_indexes_alone(etcd):
    report = status_main.read_report(load([*FLAGS, "--summary"], {}))
    host_keys = [key for key in etcd.kvs if key.startswith((f"{EC}/agents/", f"{EC}/hosts/"))]
    assert etcd.keys_read == len(host_keys)
    assert [(row.host, row.lease, row.state, row.containers) for row in report.hosts] == [
        ("host-a", LEASE_A, "running", 1), ("host-b", LEASE_B, "running", 2), ("host-z", 0, "running", 1)]
    assert etcd.calls["lease_info"] == 0  # a request per host: not for the summary
    document = json.loads(status_main.render_json(report))
    assert document["scanned"] is False and not {"backends", "seconds_left"} & set(document["hosts"][0])
    text = status_main.render_text(report).splitlines()
    assert text[0].split() == ["HOST", "STATE", "VERSION", "STARTED", "LEASE", "CONTAINERS", "ADDRESS"]
    assert text[-1] == "anomalies not looked for (--summary)"


def test_keys_counted_by_name_count_as_the_keys_read_whole():
    kvs = [*fleet(), kv(f"{EC}/hosts/host-a/deeper/key"), kv(f"{EC}/hosts/short"), kv(f"{EC}/host-c/x"), kv(EC + "/x")]
    whole, named = Registry.empty(EC, B, T), Registry.empty(EC, B, T)
    whole.add_all(kvs)
    named.count_all(item.key for item in kvs)
    assert (named.host_keys, named.listed, named.read) == (whole.host_keys, whole.listed, whole.read)
    assert named.listed["host-b"] == 2 and named.host_keys["host-a"] == 3 and not named.indexes


def test_one_host_is_read_as_its_agent_reads_it(etcd, capsys):
    asked: list[str] = []
    read = etcd.read
    etcd.read = lambda keys=(), prefixes=(), revision=0: (asked.extend([*keys, *prefixes]), read(keys, prefixes,
                                                                                               revision))[1]
    etcd.kvs[f"{EC}/hosts/host-a/gone"] = kv(f"{EC}/hosts/host-a/gone", "f" * 64, LEASE_A)  # dangling, host-a's
    etcd.kvs[f"{EC}/hosts/host-b/gone"] = kv(f"{EC}/hosts/host-b/gone", "e" * 64, LEASE_B)  # host-b's: not shown
    report = status_main.read_report(load([*FLAGS, "--host", "host-a"], {}))
    assert [row.host for row in report.hosts] == ["host-a"]
    assert report.containers == (ContainerRow("gone", "f" * 64), ContainerRow("web", CID_A))
    assert [(item.kind, item.key) for item in report.anomalies] == [("dangling-index", f"{EC}/hosts/host-a/gone")]
    assert etcd.calls["pages"] == 0 and not {f"{EC}/", f"{B}/", f"{T}/", f"{EC}/containers/"} & set(asked)
    assert {key for key in asked if "host-b" in key or "b1" * 32 in key} == set()  # nothing of host-b's
    assert status_main.run(load([*FLAGS, "--host", "nobody"], {})) == 1
    assert "no host nobody in /registry" in capsys.readouterr().err


def test_one_service_across_hosts(etcd, capsys):
    etcd.kvs.update((item.key, item) for item in container("host-b", "b3" * 32, "api", LEASE_B))
    etcd.kvs[f"{B}/shared/1/{'b3' * 6}"] = kv(f"{B}/shared/1/{'b3' * 6}", "10.0.0.2:1", LEASE_B)
    assert status_main.run(load([*FLAGS, "--service", "shared", "--json"], {})) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(entry["key"], entry["host"]) for entry in document["backends"]] == [
        (f"{B}/shared/1/{CID_A[:12]}", "host-a"), (f"{B}/shared/1/{'b3' * 6}", "host-b"), (f"{B}/shared/1/port",
                                                                                            "host-a")]
    assert document["traefik"] == []
    assert status_main.run(load([*FLAGS, "--service", "web"], {})) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KEY", "HOST", "VALUE"]
    assert {line.split()[0] for line in lines[1:]} == {
        f"{T}/http/services/web/loadbalancer/servers/{CID_A[:12]}/url", f"{T}/http/services/web/loadbalancer/"
        "passhostheader", f"{T}/http/routers/web/rule", f"{T}/http/routers/web/service",
        f"{T}/http/routers/web/middlewares/0"}
    assert status_main.run(load([*FLAGS, "--service", "nothing"], {})) == 0
    assert capsys.readouterr().out.startswith("no keys of service nothing")


def test_progress_on_a_terminal_only(etcd, capsys, monkeypatch):
    monkeypatch.setattr(status_main.sys.stderr, "isatty", lambda: True)
    status_main.run(load([*FLAGS, "--page-size", "10"], {}))
    err = capsys.readouterr().err
    assert "read 10 keys" in err and f"read {len(etcd.kvs)} keys" in err and err.endswith("\r\x1b[K")
    status_main.run(load([*FLAGS, "--page-size", "10", "--json"], {}))
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(status_main.sys.stderr, "isatty", lambda: False)
    status_main.run(load([*FLAGS, "--page-size", "10"], {}))
    assert capsys.readouterr().err == ""


def test_a_slow_page_is_told_as_slow(etcd, capsys):
    pages = etcd.pages

    def slow_second_page(*args, **kwargs):
        for number, page in enumerate(pages(*args, **kwargs)):
            if number == 1:
                raise EtcdSlow("no etcd endpoint answered (timed out after 5 s)", "kv/range", 5.0)
            yield page

    etcd.pages = slow_second_page
    assert status_main.run(load([*FLAGS, "--page-size", "10"], {})) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"service-registrator status: etcd at http://localhost:2379 is slow, not down: the range request "
                   f"for page 2 of {EC}/ (10 keys a page, 10 keys read before it) got no answer within 5 s")


def test_the_adapter_says_a_page_that_timed_out_was_slow():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections complete (backlog); nothing answers
        etcd = Etcd(Members([Endpoint("http", "127.0.0.1", silent.getsockname()[1])]), None, 0.2)
        with pytest.raises(EtcdSlow) as raised:
            next(etcd.pages("/registry/"))
    assert (raised.value.request, raised.value.seconds) == ("kv/range", 0.2)


@pytest.mark.parametrize("flags", [["--page-size", "0"], ["--page-size", "x"], ["--host", ""], ["--service", "a/b"],
                                   ["--host", "a", "--service", "b"], ["--summary", "--host", "a"]])
def test_bad_view_flags_exit_2(flags):
    with pytest.raises((SystemExit, ConfigError)) as raised:
        load(flags, {})
    if isinstance(raised.value, SystemExit):
        assert raised.value.code == 2


def test_a_bare_container_key_holds_no_container():
    """`P/containers/I` (no key under it) is no container: an index naming I still dangles (the fast path for the
    keys under `P/containers/` takes only those)."""
    kvs = [*fleet(), kv(f"{EC}/hosts/host-a/x", "f" * 64, LEASE_A), kv(f"{EC}/containers/{'f' * 64}", "", LEASE_A)]
    assert ("dangling-index", f"{EC}/hosts/host-a/x") in {(item.kind, item.key) for item in report_of(kvs).anomalies}
