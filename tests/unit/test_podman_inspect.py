"""Podman 4.3's Docker-compatible API, on recorded output (tests/fixtures/podman_*.json, made by
tests/support/record_fixtures.py): what is registered, the keys of both layouts, and which events count."""

import pytest

from agent.adapters.docker_engine import STOPPING_ACTIONS, affected_container
from agent.core.container import has_healthcheck, health_status, is_registrable
from agent.layouts import keys_of
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout
from tests.unit.fixtures import inspect

ROOT, HOST = "/registry", "node-1"
B, HOST_IP = "/backends", "10.1.2.3"
IMAGE = "docker.io/srtest/busybox:latest"  # Podman reports the image fully qualified (Docker: srtest/busybox:latest)


def podman(name: str) -> dict:
    return inspect(f"podman_{name}")


def events() -> list[dict]:
    return inspect("podman_events")  # a list of raw events, as the agent's stream read them


def recorded(event_type: str, action: str) -> list[dict]:
    found = [event for event in events() if event["Type"] == event_type and event["Action"] == action]
    assert found, f"no {event_type} {action} event in podman_events.json: record the fixtures again"
    return found


@pytest.mark.parametrize(("name", "registrable"), [
    ("plain", True),
    ("published", True),
    ("exposed", True),
    ("host_network", True),
    ("two_networks", True),
    ("healthcheck_healthy", True),
    ("healthcheck_starting", False),
    ("healthcheck_unhealthy", False),
    ("paused", False),
])
def test_registrable(name, registrable):
    assert is_registrable(podman(name)) is registrable


@pytest.mark.parametrize("name", ["plain", "published", "two_networks", "paused"])
def test_health_without_a_healthcheck_is_reported_but_ignored(name):
    data = podman(name)
    assert data["State"]["Health"]["Status"] == ""  # Podman reports State.Health for every container
    assert not has_healthcheck(data)
    assert health_status(data) is None


@pytest.mark.parametrize(("name", "status"), [
    ("healthcheck_starting", "starting"),  # never checked yet
    ("healthcheck_healthy", "healthy"),
    ("healthcheck_unhealthy", "unhealthy"),
])
def test_health_of_a_container_with_a_healthcheck(name, status):
    data = podman(name)
    assert has_healthcheck(data)
    assert health_status(data) == status


def test_paused_container_is_still_running():
    state = podman("paused")["State"]
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    assert keys_of(podman("paused"), [EcLayout(ROOT, HOST)]) == ({}, [])


def test_ec_keys_of_published_ports():
    data = podman("published")
    cid = data["Id"]
    base = f"{ROOT}/containers/{cid}"
    assert data["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "", "HostPort": "28080"}]
    assert EcLayout(ROOT, HOST).container_keys(data) == {
        f"{base}/id": cid,
        f"{base}/created": data["Created"],
        f"{base}/state": "running",
        f"{base}/image": IMAGE,
        f"{base}/name": "published",
        f"{base}/host": HOST,
        f"{base}/network/ip": data["NetworkSettings"]["Networks"]["podman"]["IPAddress"],
        f"{base}/network/ports/80-tcp/intPort": "80",
        f"{base}/network/ports/80-tcp/extPort": "28080",
        f"{base}/network/ports/80-tcp/extIp": "",  # as Podman reports all interfaces (Docker: 0.0.0.0)
        f"{base}/network/ports/80-tcp/proto": "tcp",
        f"{base}/network/ports/53-udp/intPort": "53",
        f"{base}/network/ports/53-udp/extPort": "25353",
        f"{base}/network/ports/53-udp/extIp": "",
        f"{base}/network/ports/53-udp/proto": "udp",
        f"{ROOT}/hosts/{HOST}/published": cid,
        f"{ROOT}/{HOST}/published": cid,
    }


def test_ec_ip_is_the_top_level_address_on_one_network():
    data = podman("plain")
    keys = EcLayout(ROOT, HOST).container_keys(data)
    assert data["NetworkSettings"]["IPAddress"]
    assert keys[f"{ROOT}/containers/{data['Id']}/network/ip"] == data["NetworkSettings"]["IPAddress"]


def test_ec_ip_on_two_networks_is_the_first_networks_by_name():
    data = podman("two_networks")
    settings = data["NetworkSettings"]
    assert settings["IPAddress"] == ""  # Podman leaves it empty on more than one network
    assert sorted(settings["Networks"]) == ["fixture-net", "podman"]
    keys = EcLayout(ROOT, HOST).container_keys(data)
    ip = keys[f"{ROOT}/containers/{data['Id']}/network/ip"]
    assert ip == settings["Networks"]["fixture-net"]["IPAddress"]
    assert ip and ip != settings["Networks"]["podman"]["IPAddress"]


def test_ec_exposed_unpublished_port_has_empty_external_side():
    data = podman("exposed")
    block = f"{ROOT}/containers/{data['Id']}/network/ports/9000-tcp"
    keys = EcLayout(ROOT, HOST).container_keys(data)
    assert (keys[f"{block}/intPort"], keys[f"{block}/extPort"], keys[f"{block}/extIp"]) == ("9000", "", "")


def test_ec_host_network_has_empty_ip_and_no_ports():
    data = podman("host_network")
    keys = EcLayout(ROOT, HOST).container_keys(data)
    assert keys[f"{ROOT}/containers/{data['Id']}/network/ip"] == ""
    assert not [key for key in keys if "/ports/" in key]


def test_backends_use_host_ip_for_all_interfaces():
    data = podman("published")
    short = data["Id"][:12]
    assert BackendsLayout(B, HOST_IP).container_keys(data) == {
        f"{B}/busybox/1/{short}": f"{HOST_IP}:25353",  # 53/udp before 80/tcp; HostIp "" is every interface
        f"{B}/busybox/2/{short}": f"{HOST_IP}:28080",
        f"{B}/busybox/1/port": "53",
        f"{B}/busybox/2/port": "80",
    }


@pytest.mark.parametrize("name", ["plain", "exposed", "host_network"])
def test_backends_no_published_port_no_keys(name):
    assert BackendsLayout(B, HOST_IP).container_keys(podman(name)) == {}


@pytest.mark.parametrize("action", ["connect", "disconnect"])
def test_network_events_name_the_container(action):
    for event in recorded("network", action):
        cid = event["Actor"]["ID"]  # Podman: the container itself, its name in Attributes.name
        assert "container" not in event["Actor"]["Attributes"]
        assert affected_container(event) == cid
    names = {event["Actor"]["Attributes"]["name"]: event["Actor"]["ID"] for event in recorded("network", "connect")}
    assert names["two_networks"] == podman("two_networks")["Id"]


def test_health_status_event_has_no_status_and_needs_an_inspect():
    health_id = podman("healthcheck_healthy")["Id"]
    for event in recorded("container", "health_status"):
        assert event["Action"] == "health_status"  # Docker: "health_status: healthy"
        assert affected_container(event) == health_id
        assert event["Action"] not in STOPPING_ACTIONS


def test_remove_is_a_stopping_action():
    for event in recorded("container", "remove"):
        assert event["Actor"]["Attributes"]["name"] == "events"
        assert affected_container(event) == event["Actor"]["ID"]
        assert event["Action"] in STOPPING_ACTIONS


@pytest.mark.parametrize("action", ["start", "pause", "die"])
def test_recorded_container_actions_name_the_container(action):
    for event in recorded("container", action):
        assert affected_container(event) == event["Actor"]["ID"] == event["id"]


def test_podman_only_actions_change_nothing():
    ignored = {"create", "init", "cleanup", "exec", "exec_died"}
    seen = {event["Action"] for event in events() if event["Action"] in ignored}
    assert {"create", "init", "exec_died"} <= seen
    for event in events():
        if event["Action"] in ignored:
            assert affected_container(event) is None


def test_every_recorded_event_names_a_recorded_container():
    containers = {podman(name)["Id"] for name in ("plain", "published", "healthcheck_healthy", "exposed",
                                                  "host_network", "two_networks", "paused")}
    removed = {event["Actor"]["ID"] for event in recorded("container", "remove")}
    for event in events():
        cid = affected_container(event)
        assert cid is None or cid in containers | removed, event
