"""The backends layout (SPEC §4) on recorded inspect output."""

import pytest

from agent.core.ports import ExposedPort, exposed_ports
from agent.layouts import INDEX, OWN
from agent.layouts.backends import BackendsLayout, image_service, split_key
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
    assert [layout.rank(key) for key in keys] == [OWN] * 3 + [INDEX] * 3


def test_owned_finds_this_hosts_containers_but_never_shared_keys():
    layout = BackendsLayout(B, HOST_IP)
    data = inspect("three_ports")
    mine = layout.container_keys(data)
    others = {f"{B}/web/1/{'f' * 12}": "10.9.9.9:1"}
    owned = layout.owned({**mine, **others}, container_ids=[data["Id"]])
    assert owned == {key for key in mine if not key.endswith("/port")}


def published(ports: dict, **config) -> dict:
    """bound_address with other ports, exposed as the engine would show them."""
    data = inspect("bound_address")
    data["NetworkSettings"]["Ports"] = ports
    data["Config"].update({"ExposedPorts": {spec: {} for spec in ports}, **config})
    return data


def test_split_key_gives_service_number_and_leaf():
    assert split_key(B, f"{B}/web/2/port") == ("web", "2", "port")
    assert split_key(B, f"{B}/web%2Fapi/1/0904fad751bb") == ("web%2Fapi", "1", "0904fad751bb")


def test_split_key_ignores_keys_of_another_root_of_the_same_length():
    assert split_key(B, "/registry/hosts/h1/web") is None  # "/registry" is as long as "/backends"
    assert split_key(B, f"{B}/web/1") is None


@pytest.mark.parametrize(("image", "service"), [
    ("web:1.2:rc1", "web"),  # the tag starts at the first ":"
    ("team/web@sha256:" + "a" * 64 + "@x", "web"),  # the digest starts at the first "@"
])
def test_image_service_cuts_at_the_first_tag_or_digest_mark(image, service):
    assert image_service(image) == service


def test_port_without_protocol_is_tcp():
    binding = {"HostIp": "0.0.0.0", "HostPort": "18000"}
    data = published({"8000": [binding], "8001/UDP": [binding]})
    assert exposed_ports(data) == [ExposedPort(8000, "tcp", "0.0.0.0", "18000"),
                                   ExposedPort(8001, "udp", "0.0.0.0", "18000")]


def test_same_port_over_tcp_and_udp_numbered_tcp_first():
    data = published({"53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
                      "53/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5354"}]})
    keys = BackendsLayout(B, HOST_IP).container_keys(data)
    short = data["Id"][:12]
    assert keys == {f"{B}/busybox/1/{short}": "10.1.2.3:5354", f"{B}/busybox/2/{short}": "10.1.2.3:5353",
                    f"{B}/busybox/1/port": "53", f"{B}/busybox/2/port": "53"}


def test_one_port_named_twice_is_registered_once_with_its_first_entry():
    first, second = {"HostIp": "0.0.0.0", "HostPort": "1"}, {"HostIp": "0.0.0.0", "HostPort": "2"}
    data = published({"80/tcp": [first], "80/TCP": [second]})
    assert exposed_ports(data) == [ExposedPort(80, "tcp", "0.0.0.0", "1")]
    assert BackendsLayout(B, HOST_IP).container_keys(data) == {f"{B}/busybox/1/{data['Id'][:12]}": "10.1.2.3:1",
                                                               f"{B}/busybox/1/port": "80"}


@pytest.mark.parametrize("config", [{"Image": ""}, {"Image": None}])
def test_service_is_the_container_name_without_an_image(config):
    data = published({"9090/tcp": [{"HostIp": "", "HostPort": "19090"}]}, **config)
    keys = BackendsLayout(B, HOST_IP).container_keys(data)
    assert keys == {f"{B}/bound_address/1/{data['Id'][:12]}": "10.1.2.3:19090", f"{B}/bound_address/1/port": "9090"}


@pytest.mark.parametrize("binding", [{"HostIp": "0.0.0.0", "HostPort": ""}, None])
def test_a_binding_without_a_host_port_is_not_published(binding):
    """As in the traefik layout (one rule, agent/core/selection.py): `10.1.2.3:` would be no address."""
    assert BackendsLayout(B, HOST_IP).container_keys(published({"9090/tcp": [binding]})) == {}


def test_more_to_read_names_the_group_of_each_unwanted_port_key():
    layout = BackendsLayout(B, HOST_IP)
    found = {f"{B}/web/1/port": "53", f"{B}/web/2/port": "80", f"{B}/web/2/{'f' * 12}": "10.9.9.9:1"}
    assert layout.more_to_read(found, wanted={f"{B}/web/2/port"}, container_ids=[]) == (set(), {f"{B}/web/1/"})
