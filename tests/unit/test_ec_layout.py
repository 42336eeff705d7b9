"""The ec layout on recorded inspect output: literal keys from SPEC §3."""

import pytest

from agent.layouts.ec import EcLayout
from tests.unit.fixtures import inspect

ROOT, HOST = "/registry", "node-1"


def keys_of(name: str) -> tuple[dict[str, str], str]:
    data = inspect(name)
    return EcLayout(ROOT, HOST).container_keys(data), data["Id"]


def test_published_tcp_and_udp_ports():
    keys, cid = keys_of("published_tcp_udp")
    base = f"{ROOT}/containers/{cid}"
    assert keys[f"{base}/network/ports/80-tcp/intPort"] == "80"
    assert keys[f"{base}/network/ports/80-tcp/extPort"] == "8080"
    assert keys[f"{base}/network/ports/80-tcp/extIp"] == "0.0.0.0"
    assert keys[f"{base}/network/ports/80-tcp/proto"] == "tcp"
    assert keys[f"{base}/network/ports/53-udp/extPort"] == "5353"
    assert keys[f"{base}/network/ports/53-udp/proto"] == "udp"
    assert keys[f"{base}/network/ip"].startswith("172.")
    assert len(keys) == 6 + 1 + 8 + 2  # own keys, ip, two port blocks, two index keys


def test_exact_key_set_of_a_plain_container():
    keys, cid = keys_of("no_ports")
    data = inspect("no_ports")
    base = f"{ROOT}/containers/{cid}"
    assert keys == {
        f"{base}/id": cid,
        f"{base}/created": data["Created"],
        f"{base}/state": "running",
        f"{base}/image": "srtest/busybox:latest",
        f"{base}/name": "no_ports",
        f"{base}/host": HOST,
        f"{base}/network/ip": data["NetworkSettings"]["IPAddress"],
        f"{ROOT}/hosts/{HOST}/no_ports": cid,
        f"{ROOT}/{HOST}/no_ports": cid,
    }


def test_exposed_unpublished_port_has_empty_external_side():
    keys, cid = keys_of("exposed_unpublished")
    block = f"{ROOT}/containers/{cid}/network/ports/9000-tcp"
    assert (keys[f"{block}/intPort"], keys[f"{block}/extPort"], keys[f"{block}/extIp"]) == ("9000", "", "")


def test_host_network_has_empty_ip_and_no_ports():
    keys, cid = keys_of("host_network")
    assert keys[f"{ROOT}/containers/{cid}/network/ip"] == ""
    assert not [key for key in keys if "/ports/" in key]


def test_user_network_ip_comes_from_the_network():
    keys, cid = keys_of("user_network")
    data = inspect("user_network")
    assert data["NetworkSettings"]["IPAddress"] == ""
    network = data["NetworkSettings"]["Networks"]["fixture-net"]
    assert keys[f"{ROOT}/containers/{cid}/network/ip"] == network["IPAddress"]


def test_hostile_labels_are_escaped_and_kept():
    keys, cid = keys_of("hostile_labels")
    base = f"{ROOT}/containers/{cid}"
    assert keys[f"{base}/labels/a%2Fb"] == "slash"
    assert keys[f"{base}/labels/p%25c"] == "per%cent"
    assert keys[f"{base}/labels/ünïcödé"] == "ça va ✓"
    assert keys[f"{base}/labels/empty"] == ""
    assert keys[f"{ROOT}/labels/a%2Fb/{cid}"] == "slash"
    assert keys[f"{ROOT}/labels/empty/{cid}"] == ""


def test_own_keys_come_before_index_keys():
    layout = EcLayout(ROOT, HOST)
    ranks = [layout.rank(key) for key in layout.container_keys(inspect("hostile_labels"))]
    assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == 1


def test_host_segment_is_escaped():
    keys = EcLayout(ROOT, "rack/1").container_keys(inspect("no_ports"))
    assert f"{ROOT}/hosts/rack%2F1/no_ports" in keys
    assert keys[f"{ROOT}/containers/{inspect('no_ports')['Id']}/host"] == "rack/1"


@pytest.mark.parametrize("name", ["published_tcp_udp", "hostile_labels", "user_network"])
def test_owned_recognises_this_hosts_keys_only(name):
    layout = EcLayout(ROOT, HOST)
    mine = layout.container_keys(inspect(name))
    theirs = EcLayout(ROOT, "other").container_keys({**inspect(name), "Id": "f" * 64})
    everything = {**mine, **theirs}
    assert layout.owned(everything, container_ids=()) == set(mine)
