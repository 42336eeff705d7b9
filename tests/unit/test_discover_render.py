"""render: the haproxy configuration of a route table, checked line by line and by the real haproxy."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.core.escape import escape_segment
from agent.core.kv import KeyValue
from agent.discover.render import HEADER, PREAMBLE, bind_address, render
from agent.discover.routes import Backend, Route, RouteTable, route_table

B = "/backends"
HOSTILE = [
    "we\nb", "web#1", "my web", "it's", 'say "hi"', "%0A", "x" * 5000, "}", "{", "\n    server evil 6.6.6.6:1",
    "wéb", "a/b", "100%", "\r\n", "\x00", "\u2028", "-", ".", ":", "global", "defaults", "listen x", "# c",
]
BAD_VALUES = ["1.2.3.4:80\nserver x", "host.example:80", "1.2.3.4:99999", "1.2.3.4:٣", "::1:80", " 1.2.3.4:80"]
ID = r"[A-Za-z0-9_.:-]+"
ADDRESS = r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-f:.]+\]):[0-9]{1,5}"
ALLOWED = [re.compile(re.escape(line)) for line in (HEADER, *PREAMBLE, "    balance roundrobin")] + [
    re.compile(f"listen {ID}"),
    re.compile(f"    # service {ID} route [0-9]+"),
    re.compile(f"    bind {ADDRESS}"),
    re.compile(f"    server {ID} {ADDRESS} check"),
]


def kv(key: str, value: str, revision: int = 1) -> KeyValue:
    return KeyValue(key, value, lease=0, mod_revision=revision, create_revision=revision)


def table_of(routes: dict[tuple[str, int, str], dict[str, str]]) -> RouteTable:
    kvs = []
    for revision, ((service, n, port), backends) in enumerate(routes.items(), start=1):
        base = f"{B}/{escape_segment(service)}/{n}"
        kvs += [kv(f"{base}/port", port, revision)] + [kv(f"{base}/{c}", v, revision) for c, v in backends.items()]
    return route_table(B, kvs)


def hostile_table(count: int = 50) -> RouteTable:
    routes = {}
    for i in range(count):
        service = HOSTILE[i % len(HOSTILE)] + str(i // len(HOSTILE))
        routes[(service, 1 + i % 3, str(1000 + i))] = {
            "a b": f"10.0.{i}.1:{20000 + i}", "a#b": f"[fd00::{i:x}]:80", "\n    server evil 6.6.6.6:1": "1.2.3.4:1",
            **{f"bad{j}": value for j, value in enumerate(BAD_VALUES)}}
    routes[("late", 1, "1000")] = {"x": "1.2.3.4:5"}  # loses port 1000
    table = table_of(routes)
    assert len(table.routes) == count and table.backend_count == 3 * count
    return table


def assert_allowed(text: str) -> None:
    assert text.endswith("\n") and text.splitlines() == text.split("\n")[:-1]  # no other line breaks
    for line in text.splitlines():
        assert line == "" or any(pattern.fullmatch(line) for pattern in ALLOWED), repr(line)


def haproxy() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if found is None:
        pytest.skip("haproxy is not installed")
    return found


def haproxy_accepts(text: str, tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    quiet = subprocess.run([haproxy(), "-c", "-q", "-f", str(path)], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    loud = subprocess.run([haproxy(), "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)
    assert loud.returncode == 0 and "WARNING" not in loud.stdout + loud.stderr, loud.stdout + loud.stderr


SMALL = """\
# service-registrator discover: generated from the backends layout; edits are overwritten
global
    master-worker
    maxconn 4096

defaults
    mode tcp
    timeout connect 3s
    timeout client 1m
    timeout server 1m
    retries 2
    option redispatch
    default-server inter 1s fall 2 rise 2

listen web-1-80
    # service web route 1
    bind 127.0.0.1:80
    balance roundrobin
    server aaaaaaaaaaaa 10.0.0.1:32768 check
    server bbbbbbbbbbbb [fd00::2]:32770 check

listen my_db-1-5432
    # service my_db route 1
    bind 127.0.0.1:5432
    balance roundrobin
    server cccccccccccc 10.0.0.3:15432 check
"""


def small_table() -> RouteTable:
    return table_of({("my db", 1, "5432"): {"cccccccccccc": "10.0.0.3:15432"},
                     ("web", 1, "80"): {"bbbbbbbbbbbb": "[FD00::2]:32770", "aaaaaaaaaaaa": "10.0.0.1:32768"}})


def test_small_table_snapshot():
    assert render(small_table(), "127.0.0.1") == SMALL


def test_empty_table_renders_global_and_defaults_only():
    text = render(RouteTable((), ()), "127.0.0.1")
    assert text == "\n".join([HEADER, *PREAMBLE]) + "\n"
    assert "listen" not in text


def test_ipv6_bind_is_bracketed():
    text = render(small_table(), "::1")
    assert "    bind [::1]:80\n" in text and "    bind [::1]:5432\n" in text
    assert "    bind [::]:80\n" in render(small_table(), "::")
    assert "    bind 0.0.0.0:80\n" in render(small_table(), "0.0.0.0")


@pytest.mark.parametrize("bind,expected", [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("::", "[::]"),
                                           ("::1", "[::1]"), ("[::1]", "[::1]"), ("FD00:0::1", "[fd00::1]")])
def test_bind_address(bind, expected):
    assert bind_address(bind) == expected


@pytest.mark.parametrize("bind", ["", "localhost", "1.2.3.4:80", "fe80::1%eth0", "fe80::1%0\nglobal", "1.2.3.4\n",
                                  "1.2.3.4 /etc/passwd"])
def test_bad_bind_addresses_are_refused(bind):
    with pytest.raises(ValueError):
        render(RouteTable((), ()), bind)


def test_hostile_table_renders_only_allowed_lines():
    table = hostile_table()
    text = render(table, "0.0.0.0")
    assert_allowed(text)
    assert text.count("\nlisten ") == 50 and text.count("    server ") == 150
    assert "host.example" not in text and "server evil" not in text and " 6.6.6.6:1 " not in text
    assert "    server _____server_evil_6.6.6.6:1 1.2.3.4:1 check\n" in text  # a name, harmless
    assert [line for line in text.splitlines() if line.startswith("    bind ")] == \
        [f"    bind 0.0.0.0:{route.port}" for route in table.routes]


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0", "::1", "::"])
def test_real_haproxy_accepts_the_hostile_table(tmp_path, bind):
    text = render(hostile_table(), bind)
    assert_allowed(text)
    haproxy_accepts(text, tmp_path)


def test_real_haproxy_accepts_the_small_and_the_empty_table(tmp_path):
    haproxy_accepts(render(small_table(), "127.0.0.1"), tmp_path)
    haproxy_accepts(render(RouteTable((), ()), "::"), tmp_path)


def test_the_workers_expose_their_listeners_so_every_reload_hands_them_over(tmp_path):
    """Issue 21: without a listener of its own, an old worker with no route had nothing to hand over and haproxy 2.6
    logged `Failed to get the sockets from the old process!` (an ALERT) at the first reload."""
    socket_path = str(tmp_path / "haproxy.cfg.xfer")
    text = render(RouteTable((), ()), "127.0.0.1", socket_path)
    global_section = text.split("\n\n")[0].splitlines()
    assert f"    stats socket {socket_path} mode 600 level admin expose-fd listeners" in global_section
    haproxy_accepts(text, tmp_path)
    haproxy_accepts(render(small_table(), "127.0.0.1", socket_path), tmp_path)
    for bad in ("/run/a b.xfer", "/run/a\nlisten x.xfer", '/run/"q".xfer'):
        with pytest.raises(ValueError, match="is not one haproxy word"):
            render(RouteTable((), ()), "127.0.0.1", bad)


def test_real_haproxy_refuses_a_broken_config(tmp_path):
    """The check above can fail: haproxy really reads the file."""
    path = tmp_path / "haproxy.cfg"
    path.write_text(render(small_table(), "127.0.0.1") + "    server x host.invalid.:80 bogus-keyword\n")
    assert subprocess.run([haproxy(), "-c", "-q", "-f", str(path)], capture_output=True, timeout=60).returncode != 0


def route(proxy: str = "web-1-80", server: str = "a", address: str = "1.2.3.4:80", port: int = 80) -> Route:
    return Route("web", 1, port, proxy, (Backend(server, address, f"{B}/web/1/a"),), f"{B}/web/1/port")


@pytest.mark.parametrize("bad", [
    route(proxy="web\n    server evil 6.6.6.6:1"), route(proxy=""), route(server="a b"), route(server="a\n"),
    route(address="1.2.3.4:80\nglobal"), route(address="host:80"), route(port=0), route(port=65536),
])
def test_a_hand_built_table_cannot_smuggle_text_in(bad):
    with pytest.raises(ValueError):
        render(RouteTable((bad,), ()), "127.0.0.1")


def test_the_service_comment_is_sanitised():
    text = render(RouteTable((Route("a\nglobal #", 1, 80, "a-1-80", (), ""),), ()), "127.0.0.1")
    assert "    # service a_global__ route 1\n" in text
    assert_allowed(text)
