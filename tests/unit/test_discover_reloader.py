"""Reloader: renders the routes, has haproxy check and load them, only when the text changes, gathered over the
debounce window; a refused or failed configuration leaves the last good one serving."""

from __future__ import annotations

import gevent
import gevent.event
import pytest

from agent.core.kv import KeyValue
from agent.discover import metrics
from agent.discover.reloader import Reloader, changes
from agent.discover.render import render
from agent.discover.routes import RouteTable, route_table

B = "/backends"
BIND = "127.0.0.1"
EMPTY = render(RouteTable((), ()), BIND)


class FakeHaproxy:
    """Records every call; `refuse` is the reason check() gives, `fail` the one reload() gives (None: fine)."""

    listeners_socket = None  # rendered without the listeners' socket (tests/unit/test_discover_render.py has it)

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.refuse: str | None = None
        self.fail: str | None = None

    def check(self, text: str) -> str | None:
        self.calls.append(("check", text))
        return self.refuse

    def install(self, text: str) -> None:
        self.calls.append(("install", text))

    def start(self) -> None:
        self.calls.append(("start", None))

    def reload(self) -> str | None:
        self.calls.append(("reload", None))
        return self.fail

    def disable(self, servers: list[tuple[str, str]]) -> None:
        self.calls.append(("disable", " ".join(f"{proxy}/{server}" for proxy, server in servers)))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]

    def installed(self) -> list[str | None]:
        return [text for kind, text in self.calls if kind == "install"]


def route(service: str, n: int, port: int, *addresses: str, revision: int = 1) -> dict[str, KeyValue]:
    base = f"{B}/{service}/{n}"
    kvs = [KeyValue(f"{base}/port", str(port), 0, revision, revision)]
    kvs += [KeyValue(f"{base}/c{at}", address, 0, revision, revision) for at, address in enumerate(addresses)]
    return {kv.key: kv for kv in kvs}


def every_port_free(address: str, port: int) -> None:
    return None


def reloads(result: str) -> float:
    return metrics.REGISTRY.get_sample_value("service_registrator_discover_reloads_total", {"result": result}) or 0.0


@pytest.fixture
def keys() -> dict[str, KeyValue]:
    return route("web", 1, 80, "10.0.0.1:8080")


@pytest.fixture
def haproxy() -> FakeHaproxy:
    return FakeHaproxy()


@pytest.fixture
def reloader(keys: dict[str, KeyValue], haproxy: FakeHaproxy) -> Reloader:
    return Reloader(lambda: keys, haproxy, B, BIND, 0.5, probe=every_port_free)  # type: ignore[arg-type]


@pytest.fixture
def started(reloader: Reloader, haproxy: FakeHaproxy) -> Reloader:
    reloader.start()
    haproxy.calls.clear()
    return reloader


def test_start_installs_and_starts_on_the_current_routes(reloader, haproxy, keys):
    before = reloads("ok")
    reloader.start()
    text = render(route_table(B, keys.values()), BIND)
    assert "listen web-1-80" in text
    assert haproxy.calls == [("check", text), ("install", text), ("start", None)]
    assert reloader.served == text and reloader.started
    assert [r.proxy for r in reloader.table.routes] == ["web-1-80"]
    assert reloads("ok") == before + 1


def test_start_on_a_refused_rendering_starts_on_the_empty_table(reloader, haproxy, caplog):
    haproxy.refuse = "[ALERT] bad things"
    before = reloads("refused")
    reloader.start()
    assert haproxy.kinds() == ["check", "install", "start"] and haproxy.installed() == [EMPTY]
    assert reloader.served == EMPTY and reloader.table.routes == () and reloader.started
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "bad things" in errors[0]
    assert reloads("refused") == before + 1


def test_unchanged_routes_touch_nothing(started, haproxy):
    before = reloads("ok")
    assert started.apply() == "unchanged"
    assert haproxy.calls == []
    assert reloads("ok") == before


def test_a_change_is_installed_and_reloaded_once(started, haproxy, keys, caplog):
    caplog.set_level("INFO")
    before = reloads("ok")
    keys.update(route("db", 1, 5432, "10.0.0.2:5432", "10.0.0.3:5432"))
    assert started.apply() == "ok"
    text = render(route_table(B, keys.values()), BIND)
    assert haproxy.calls == [("check", text), ("install", text), ("reload", None)]
    assert started.served == text and len(started.table.routes) == 2
    lines = [r.getMessage() for r in caplog.records if "haproxy reloaded in" in r.getMessage()]
    assert len(lines) == 1 and "2 routes, 3 backends; added db-1-5432 (2 backends)" in lines[0]
    assert reloads("ok") == before + 1
    assert metrics.REGISTRY.get_sample_value("service_registrator_discover_backends") == 3


def test_a_refused_rendering_is_not_tried_again_until_forced(started, haproxy, keys, caplog):
    served, before = started.served, reloads("refused")
    haproxy.refuse = "[ALERT] port in use"
    keys.update(route("db", 1, 5432, "10.0.0.2:5432"))
    assert started.apply() == "refused"
    assert haproxy.kinds() == ["check"] and started.served == served
    assert any("port in use" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    haproxy.calls.clear()
    assert started.apply() == "unchanged" and haproxy.calls == []
    assert started.apply(force=True) == "refused" and haproxy.kinds() == ["check"]
    assert reloads("refused") == before + 2
    haproxy.refuse = None
    haproxy.calls.clear()
    assert started.apply(force=True) == "ok" and haproxy.kinds() == ["check", "install", "reload"]


def test_a_failed_reload_puts_the_served_text_back(started, haproxy, keys, caplog):
    served, before = started.served, reloads("failed")
    haproxy.fail = "[ALERT] cannot bind socket"
    keys.update(route("db", 1, 5432, "10.0.0.2:5432"))
    assert started.apply() == "failed"
    new = render(route_table(B, keys.values()), BIND)
    assert haproxy.installed() == [new, served]
    assert started.served == served and [r.proxy for r in started.table.routes] == ["web-1-80"]
    assert any("cannot bind socket" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert reloads("failed") == before + 1
    haproxy.calls.clear()
    assert started.apply() == "unchanged" and haproxy.calls == []


def test_a_skipped_key_is_warned_once_while_it_stays_skipped(started, keys, caplog):
    bad = KeyValue(f"{B}/web/1/evil", "not an address", 0, 2, 2)

    def warnings() -> int:
        return sum(1 for r in caplog.records if r.levelname == "WARNING" and bad.key in r.getMessage())

    keys[bad.key] = bad
    started.apply()
    started.apply()
    started.apply(force=True)
    assert warnings() == 1
    assert metrics.REGISTRY.get_sample_value("service_registrator_discover_skipped_keys") == 1
    del keys[bad.key]
    started.apply()
    assert metrics.REGISTRY.get_sample_value("service_registrator_discover_skipped_keys") == 0
    keys[bad.key] = bad
    started.apply()
    assert warnings() == 2


def test_changes_names_added_removed_and_changed_routes():
    web = route("web", 1, 80, "10.0.0.1:80")
    db = route("db", 1, 5432, "10.0.0.2:5432")
    before = route_table(B, [*web.values(), *db.values()])
    after = route_table(B, [*route("web", 1, 80, "10.0.0.1:80", "10.0.0.9:80").values(),
                            *route("api", 2, 8080, "10.0.0.3:80").values()])
    assert changes(before, after) == "added api-2-8080 (1 backends); removed db-1-5432; changed web-1-80 (2 backends)"
    assert changes(before, before) == "no route changed"
    assert changes(RouteTable((), ()), before) == "added db-1-5432 (1 backends); added web-1-80 (1 backends)"


def test_the_first_change_after_a_quiet_window_is_applied_at_once_the_next_ones_gathered(keys, haproxy):
    """Issue 21: a container leaving must be out of rotation within milliseconds, not a debounce window later;
    the changes that follow within the window are still one reload at its end."""
    slept: list[float] = []
    gate = gevent.event.Event()
    now = [100.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        gate.wait()

    reloader = Reloader(lambda: keys, haproxy, B, BIND, 0.25, sleep, probe=every_port_free,  # type: ignore[arg-type]
                        clock=lambda: now[0])
    reloader.start()
    applied: list[str] = []
    apply = reloader.apply

    def counted(force: bool = False) -> str:
        applied.append(apply(force))
        return applied[-1]

    reloader.apply = counted  # type: ignore[method-assign]
    runner = gevent.spawn(reloader.run)
    try:
        now[0] += 1  # quiet for longer than the window
        keys.update(route("db", 1, 5432, "10.0.0.2:5432"))
        reloader.request()
        for _ in range(3):
            gevent.sleep(0)
        assert applied == ["ok"] and slept == []  # at once
        now[0] += 0.1  # within the window of that reload: gathered until its end
        keys.update(route("db", 1, 5432, "10.0.0.2:5432", "10.0.0.3:5432"))
        for _ in range(3):
            reloader.request()
        for _ in range(3):
            gevent.sleep(0)
        assert applied == ["ok"] and slept == [pytest.approx(0.15)]
        gate.set()
        for _ in range(5):
            gevent.sleep(0)
        assert applied == ["ok", "ok"] and haproxy.kinds().count("reload") == 2
        now[0] += 1
        reloader.request(force=True)  # SIGHUP: the same text loaded again, at once
        for _ in range(5):
            gevent.sleep(0)
        assert applied == ["ok", "ok", "ok"] and haproxy.kinds().count("reload") == 3 and len(slept) == 1
    finally:
        runner.kill()


def test_refusal_is_the_alert_lines_of_haproxy_c_on_one_line():
    from agent.discover.haproxy import refusal

    output = ("[NOTICE]   (1) : haproxy version is 2.6.12\n"
              "[ALERT]    (1) : config : parsing [x.cfg:3] : unknown keyword 'bogus'.\n"
              "[ALERT]    (1) : config : Fatal errors found in configuration.\n")
    assert refusal(output) == ("config : parsing [x.cfg:3] : unknown keyword 'bogus'.; "
                               "config : Fatal errors found in configuration.")
    assert refusal("something else\nlast line\n") == "last line"
    assert refusal("") == "no reason given"


def test_the_served_route_keeps_its_port_when_its_port_key_is_put_back_newer(started, keys, haproxy):
    """Defect 10, through the reloader: the table it serves decides who keeps a contested port."""
    keys.update(route("api", 1, 80, "10.0.0.2:8080"))  # api claims web's port 80, created later: skipped
    assert started.apply() in ("ok", "unchanged")
    assert [r.service for r in started.table.routes] == ["web"]
    port_key = f"{B}/web/1/port"
    keys[port_key] = KeyValue(port_key, "80", 0, 99, 99)  # web's host died; another host of web put it back
    api_port = f"{B}/api/1/port"
    keys[api_port] = KeyValue(api_port, "80", 0, 50, 50)
    started.apply()
    assert [r.service for r in started.table.routes] == ["web"]


def test_a_route_whose_port_cannot_be_bound_is_left_out_and_the_rest_served(keys, haproxy, caplog):
    """Defect 9: `haproxy -c` does not bind; one taken port made the master refuse the whole configuration, so
    no new route of any service was served. That route is left out with one warning; the others are served."""
    keys.update(route("taken", 1, 9479, "10.0.0.3:1"))  # e.g. the agent's own endpoint on this host
    taken = {9479: "Address already in use"}
    reloader = Reloader(lambda: keys, haproxy, B, BIND, 0.5,  # type: ignore[arg-type]
                        probe=lambda address, port: taken.get(port))
    with caplog.at_level("WARNING"):
        reloader.start()
        reloader.apply(force=True)
    assert [r.proxy for r in reloader.table.routes] == ["web-1-80"]
    assert reloader.left_out == 1
    assert metrics.REGISTRY.get_sample_value("service_registrator_discover_routes_left_out") == 1.0
    said = [r.getMessage() for r in caplog.records if "cannot be bound" in r.getMessage()]
    assert len(said) == 1 and "Address already in use" in said[0] and "taken-1-9479" in said[0]
    taken.clear()  # the port came free: the next rendering serves it
    assert reloader.apply() == "ok"
    assert [r.proxy for r in reloader.table.routes] == ["web-1-80", "taken-1-9479"] and reloader.left_out == 0


def test_an_os_error_while_reloading_is_one_error_and_a_retry_never_the_reloaders_end(keys, haproxy, caplog):
    """Defect 12 on discover: under a flood of connections the next reload failed with EMFILE, the reloader
    greenlet died, haproxy was stopped, exit 1."""
    slept: list[float] = []
    reloader = Reloader(lambda: keys, haproxy, B, BIND, 0.5, slept.append,  # type: ignore[arg-type]
                        probe=every_port_free)
    reloader.start()
    keys.update(route("api", 1, 81, "10.0.0.2:8080"))

    def no_descriptor(text: str) -> None:
        raise OSError(24, "Too many open files")

    haproxy.check = no_descriptor  # type: ignore[method-assign]
    with caplog.at_level("ERROR"):
        assert reloader.apply_or_retry(False) == "failed"
    assert slept and reloader._wanted.is_set()  # asked again, after a pause
    assert "Too many open files" in caplog.text and "keeps serving" in caplog.text
    del haproxy.check  # the descriptors are back
    assert reloader.apply_or_retry(False) == "ok"
    assert [r.proxy for r in reloader.table.routes] == ["web-1-80", "api-1-81"]


def test_a_server_leaving_is_taken_out_through_the_runtime_api_before_the_check_and_the_reload(keys, haproxy):
    """Issue 21: `haproxy -c` and the reload take about 200 ms; the leaving server gets no new connection from
    the moment its key is gone, through `disable server` on the workers' socket, then the reload removes it."""
    keys.update(route("db", 1, 5432, "10.0.0.2:5432", "10.0.0.3:5432"))
    reloader = Reloader(lambda: keys, haproxy, B, BIND, 0.25, lambda seconds: None,  # type: ignore[arg-type]
                        probe=every_port_free, clock=lambda: 100.0)
    reloader.start()
    db = next(item for item in reloader.table.routes if item.service == "db")
    proxy, leaving = db.proxy, db.backends[1].server
    del keys[f"{B}/db/1/c1"]
    haproxy.calls.clear()
    reloader.request()
    runner = gevent.spawn(reloader.run)
    try:
        for _ in range(5):
            gevent.sleep(0)
    finally:
        runner.kill()
    assert haproxy.kinds()[:4] == ["disable", "check", "install", "reload"]
    assert haproxy.calls[0] == ("disable", f"{proxy}/{leaving}")
    haproxy.calls.clear()
    reloader.disable_leaving()  # nothing leaving any more: nothing asked
    assert haproxy.calls == []
