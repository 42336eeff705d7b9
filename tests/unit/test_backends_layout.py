"""The backends layout (SPEC §4) on recorded inspect output."""

import pytest

from agent.layouts.backends import BackendsLayout, image_service
from tests.unit.fixtures import inspect

B, HOST_IP = "/backends", "10.1.2.3"


def keys_of(name: str, host_ip: str = HOST_IP) -> tuple[dict[str, str], str]:
    data = inspect(name)
    return BackendsLayout(B, host_ip).container_keys(data), data["Id"][:12]


def test_three_ports_numbered_per_service_in_port_order():
    keys, short = keys_of("three_ports")
    assert keys == {
        f"{B}/web/1/{short}": "10.1.2.3:5354",  # 53/udp comes before 80/tcp
        f"{B}/web/2/{short}": "10.1.2.3:8081",
        f"{B}/web-tls/1/{short}": "10.1.2.3:8443",  # SERVICE_443_NAME
        f"{B}/web/1/port": "53",
        f"{B}/web/2/port": "80",
        f"{B}/web-tls/1/port": "443",
    }


def test_service_name_label_wins_over_env():
    keys, short = keys_of("service_named")
    assert keys == {f"{B}/api/1/{short}": "10.1.2.3:18080", f"{B}/api/1/port": "8080"}


def test_specific_host_ip_of_a_binding_is_used():
    keys, short = keys_of("bound_address")
    assert keys[f"{B}/busybox/1/{short}"] == "127.0.0.1:19090"
    assert keys[f"{B}/busybox/2/{short}"] == "10.1.2.3:19091"


def test_ipv6_host_ip_is_bracketed():
    keys, short = keys_of("service_named", host_ip="fd00::5")
    assert keys[f"{B}/api/1/{short}"] == "[fd00::5]:18080"


@pytest.mark.parametrize("name", ["exposed_unpublished", "no_ports", "host_network"])
def test_no_published_port_no_keys(name):
    assert keys_of(name)[0] == {}


@pytest.mark.parametrize(("image", "service"), [
    ("web", "web"),
    ("web:1.2", "web"),
    ("team/web:1.2", "web"),
    ("reg.example:5000/team/web:1.2", "web"),
    ("reg.example:5000/team/web", "web"),
    ("reg.example/team/web@sha256:" + "a" * 64, "web"),
    ("reg.example:5000/a/b/web:1.2@sha256:" + "b" * 64, "web"),
])
def test_image_service_name(image, service):
    assert image_service(image) == service


def test_service_from_a_digest_image_in_keys():
    data = inspect("three_ports")
    data["Config"]["Image"] = "reg.example:5000/team/shop@sha256:" + "c" * 64
    data["Config"]["Env"] = []
    keys = BackendsLayout(B, HOST_IP).container_keys(data)
    assert {key.split("/")[2] for key in keys} == {"shop"}


def test_port_keys_are_shared_and_indexed_after_container_keys():
    layout = BackendsLayout(B, HOST_IP)
    keys = list(layout.container_keys(inspect("three_ports")))
    assert [layout.shared(key) for key in keys] == [False] * 3 + [True] * 3
    assert [layout.rank(key) for key in keys] == sorted(layout.rank(key) for key in keys)


def test_owned_finds_this_hosts_containers_but_never_shared_keys():
    layout = BackendsLayout(B, HOST_IP)
    data = inspect("three_ports")
    mine = layout.container_keys(data)
    others = {f"{B}/web/1/{'f' * 12}": "10.9.9.9:1"}
    owned = layout.owned({**mine, **others}, container_ids=[data["Id"]])
    assert owned == {key for key in mine if not key.endswith("/port")}
