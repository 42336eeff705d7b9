"""The ec layout on recorded inspect output: literal keys from SPEC §3."""

import pytest

from agent.layouts.ec import EcKey, EcLayout, parse_key
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


def test_ip_is_the_containers_own_address_before_any_networks():
    data = inspect("no_ports")
    settings = data["NetworkSettings"]
    connected = {**settings, "Networks": {"app-net": {"IPAddress": "172.18.0.9"}, **settings["Networks"]}}
    keys = EcLayout(ROOT, HOST).container_keys({**data, "NetworkSettings": connected})
    assert keys[f"{ROOT}/containers/{data['Id']}/network/ip"] == settings["IPAddress"] == "172.17.0.4"


def test_a_port_reported_without_protocol_is_tcp():
    data = inspect("exposed_unpublished")
    ports = {"9000": [{"HostIp": "0.0.0.0", "HostPort": "9001"}]}
    keys = EcLayout(ROOT, HOST).container_keys({**data, "NetworkSettings": {**data["NetworkSettings"], "Ports": ports}})
    block = f"{ROOT}/containers/{data['Id']}/network/ports/9000-tcp"
    assert {key: value for key, value in keys.items() if "/ports/" in key} == {
        f"{block}/intPort": "9000",
        f"{block}/extPort": "9001",
        f"{block}/extIp": "0.0.0.0",
        f"{block}/proto": "tcp",
    }


def test_missing_inspect_fields_are_stored_empty():
    data = {key: value for key, value in inspect("no_ports").items() if key not in ("Created", "State")}
    data["Config"] = {key: value for key, value in data["Config"].items() if key != "Image"}
    keys, base = EcLayout(ROOT, HOST).container_keys(data), f"{ROOT}/containers/{data['Id']}"
    assert (keys[f"{base}/created"], keys[f"{base}/state"], keys[f"{base}/image"]) == ("", "", "")


def test_parse_key_places_each_folder():
    cid = inspect("no_ports")["Id"]
    assert parse_key(ROOT, f"{ROOT}/agents/{HOST}") == EcKey("agents", HOST)
    assert parse_key(ROOT, f"{ROOT}/hosts/{HOST}/no_ports") == EcKey("hosts", HOST, rest=("no_ports",))
    assert parse_key(ROOT, f"{ROOT}/{HOST}/no_ports") == EcKey("", HOST, rest=("no_ports",))
    assert parse_key(ROOT, f"{ROOT}/containers/{cid}/network/ip") == EcKey("containers", container=cid,
                                                                            rest=("network", "ip"))
    assert parse_key(ROOT, f"{ROOT}/labels/a%2Fb/{cid}") == EcKey("labels", "a%2Fb", cid)


@pytest.mark.parametrize("key", [
    f"{ROOT}/agents", f"{ROOT}/agents/{HOST}/x", f"{ROOT}/hosts", f"{ROOT}/hosts/{HOST}", f"{ROOT}/containers",
    f"{ROOT}/containers/{'a' * 64}", f"{ROOT}/labels", f"{ROOT}/labels/a", f"{ROOT}/labels/a/{'a' * 64}/x",
    f"{ROOT}/{HOST}", ROOT, f"{ROOT}x/hosts/{HOST}/no_ports", "/elsewhere/hosts/node-1/no_ports",
])
def test_parse_key_has_no_place_for_keys_of_the_wrong_depth_or_outside_the_root(key):
    assert parse_key(ROOT, key) is None


def test_more_to_read_follows_this_hosts_index_to_its_containers_and_their_label_index_keys():
    layout = EcLayout(ROOT, HOST)
    mine = layout.container_keys(inspect("hostile_labels"))
    theirs = EcLayout(ROOT, "other").container_keys({**inspect("hostile_labels"), "Id": "f" * 64})
    cid = inspect("hostile_labels")["Id"]
    label_keys, prefixes = layout.more_to_read({**mine, **theirs}, wanted=(), container_ids=())
    assert label_keys == {key for key in mine if key.startswith(f"{ROOT}/labels/")}
    assert len(label_keys) == len(inspect("hostile_labels")["Config"]["Labels"])
    assert prefixes == {f"{ROOT}/containers/{cid}/"}


def test_more_to_read_ignores_host_index_entries_that_name_no_container():
    layout = EcLayout(ROOT, HOST)
    found = {f"{ROOT}/hosts/{HOST}/empty": "", f"{ROOT}/{HOST}/slashed": "a/b"}
    assert layout.more_to_read(found, wanted=(), container_ids=()) == (set(), set())


def test_owned_keeps_a_container_filed_under_this_host_whose_index_entries_are_gone():
    layout = EcLayout(ROOT, HOST)
    mine = layout.container_keys(inspect("hostile_labels"))
    theirs = EcLayout(ROOT, "other").container_keys({**inspect("hostile_labels"), "Id": "f" * 64})
    unindexed = {key: value for key, value in mine.items() if not key.startswith(layout.host_prefixes())}
    assert len(unindexed) == len(mine) - 2
    assert layout.owned({**unindexed, **theirs}, container_ids=()) == set(unindexed)
