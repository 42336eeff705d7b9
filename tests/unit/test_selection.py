"""Selection and addresses (SPEC §8) on recorded inspect output: EC_REGISTRATOR_EXPLICIT in every layout,
SERVICE_<port>_IGNORE in backends and traefik (never in ec), EC_REGISTRATOR_ADDRESS, SERVICE_NETWORK, IPv6 and the
host's network; the settings; and that `discover` routes what the backends layout holds in either mode."""

import pytest

from agent.core.kv import KeyValue
from agent.core.selection import CONTAINER, PUBLISHED, Endpoint, Selection
from agent.daemon.settings import load
from agent.discover.routes import route_table
from agent.layouts import keys_of
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout
from agent.layouts.registry import build_layouts
from agent.layouts.traefik import TraefikLayout
from agent.layouts.traefik_rule import DEFAULT_RULE, parse_rule
from agent.settings import ConfigError
from tests.support.expect import expected_backends, expected_traefik
from tests.unit.fixtures import FIXTURES, inspect

P, B, T, HOST_IP = "/registry", "/backends", "traefik", "10.1.2.3"
DEFAULT, EXPLICIT, INTERNAL = Selection(), Selection(explicit=True), Selection(address=CONTAINER)
# two_networks: on fixture-net (172.18.0.3) and fixture-net2 (172.19.0.2), SERVICE_NETWORK=fixture-net2;
# 80/tcp published on 0.0.0.0:28183, 9000/tcp exposed only
NET1, NET2 = "172.18.0.3", "172.19.0.2"


def backends(name: str | dict, selection: Selection = DEFAULT) -> tuple[dict[str, str], list[str]]:
    data = inspect(name) if isinstance(name, str) else name
    done = BackendsLayout(B, HOST_IP, selection).translate(data)
    return {key.replace(data["Id"][:12], "ID"): value for key, value in done.keys.items()}, done.notes


def traefik(data: dict, selection: Selection = DEFAULT, **labels: str) -> tuple[dict[str, str], list[str]]:
    """The servers (`<proto> <service>`: value) of the container with traefik.enable and the labels given
    (`traefik_http_…` for `traefik.http.…`) beside its own, and the notes."""
    data["Config"]["Labels"] = {**(data["Config"]["Labels"] or {}), "traefik.enable": "true",
                                **{key.replace("_", "."): value for key, value in labels.items()}}
    done = TraefikLayout(T, HOST_IP, False, parse_rule("rule", DEFAULT_RULE), selection).translate(data)
    servers = {key.split("/")[1] + " " + key.split("/")[3]: value for key, value in done.keys.items()
               if "/loadbalancer/servers/" in key}
    return servers, done.notes


def every_layout(selection: Selection) -> list:
    return [EcLayout(P, "h", selection), BackendsLayout(B, HOST_IP, selection),
            TraefikLayout(T, HOST_IP, True, parse_rule("rule", DEFAULT_RULE), selection)]


# -- EC_REGISTRATOR_EXPLICIT ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "selected"), [
    ("service_named", True),  # label SERVICE_NAME=api (and env SERVICE_NAME)
    ("three_ports", True),  # env SERVICE_443_NAME only
    ("ports_ignored", True),  # label SERVICE_NAME=shop
    ("no_ports", False),
    ("two_networks", False),  # SERVICE_NETWORK names no service
    ("podman_published", False),
])
def test_explicit_registers_only_containers_that_name_a_service_in_every_layout(name, selected):
    data = inspect(name)
    everything, _ = keys_of(data, every_layout(DEFAULT))
    assert {key.split("/")[0] or key.split("/")[1] for key in everything} >= {"registry", "traefik"}
    assert keys_of(data, every_layout(EXPLICIT)) == ((everything, []) if selected else ({}, []))


@pytest.mark.parametrize("settings", [{"Labels": {"SERVICE_NAME": ""}}, {"Env": ["SERVICE_NAME="]},
                                      {"Labels": {"SERVICE_80_NAME": ""}}, {"Labels": {"SERVICE_X_NAME": "web"}},
                                      {"Labels": {"SERVICE_NAMES": "web"}}, {"Env": ["MY_SERVICE_NAME=web"]}])
def test_an_empty_name_or_another_variable_names_no_service(settings):
    data = inspect("no_ports")
    data["Config"].update(settings)
    assert keys_of(data, every_layout(EXPLICIT)) == ({}, [])


@pytest.mark.parametrize("settings", [{"Labels": {"SERVICE_8080_NAME": "web"}}, {"Env": ["SERVICE_NAME=web"]},
                                      {"Env": ["SERVICE_1_NAME=x"], "Labels": {"other": "1"}}])
def test_a_name_by_label_or_env_selects(settings):
    data = inspect("no_ports")
    data["Config"].update(settings)
    assert keys_of(data, every_layout(EXPLICIT))[0]


def test_explicit_still_leaves_out_an_ignored_container():
    data = inspect("service_named")
    data["Config"]["Labels"]["SERVICE_IGNORE"] = "true"
    assert keys_of(data, every_layout(EXPLICIT)) == ({}, [])


# -- SERVICE_<port>_IGNORE -----------------------------------------------------------------------------------------

def test_an_ignored_port_is_left_out_of_backends_and_traefik_and_kept_in_ec():
    data = inspect("ports_ignored")  # 80/tcp 28182, 443/tcp 28444 (label SERVICE_443_IGNORE=true), 53/udp 25455
    assert backends(data) == ({f"{B}/shop/1/ID": "10.1.2.3:25455", f"{B}/shop/2/ID": "10.1.2.3:28182",
                               f"{B}/shop/1/port": "53", f"{B}/shop/2/port": "80"}, [])
    ec = EcLayout(P, "h").container_keys(data)
    assert ec[f"{P}/containers/{data['Id']}/network/ports/443-tcp/extPort"] == "28444"
    servers, notes = traefik(data, traefik_http_services_shop_loadbalancer_server_port="443")
    assert servers == {} and len(notes) == 1 and "'443'" in notes[0] and "SERVICE_<port>_IGNORE" in notes[0]


def test_the_lowest_port_traefik_takes_is_the_lowest_not_ignored():
    data = inspect("ports_ignored")
    data["Config"]["Labels"].update({"SERVICE_80_IGNORE": "yes", "SERVICE_443_IGNORE": "false"})
    assert traefik(data) == ({"http ports-ignored": "http://10.1.2.3:28444"}, [])


@pytest.mark.parametrize(("env", "label", "ignored"), [
    ("true", None, True), ("1", None, True), ("on", None, True), ("no", None, False), ("", None, False),
    ("true", "false", False),  # a label wins over env (SPEC §4)
    (None, "TRUE", True), ("false", "y", True),
])
def test_ignore_is_read_like_service_ignore(env, label, ignored):
    data = inspect("ports_ignored")
    data["Config"]["Env"] = [f"SERVICE_53_IGNORE={env}"] if env is not None else []
    data["Config"]["Labels"] = {"SERVICE_NAME": "shop", **({"SERVICE_53_IGNORE": label} if label is not None else {})}
    keys, _ = backends(data)
    assert (f"{B}/shop/1/port" in keys and keys[f"{B}/shop/1/port"] == "53") is not ignored


# -- EC_REGISTRATOR_ADDRESS=container ------------------------------------------------------------------------------

def test_container_mode_registers_every_exposed_port_at_the_network_that_service_network_names():
    assert backends("two_networks", INTERNAL) == ({
        f"{B}/busybox/1/ID": f"{NET2}:80", f"{B}/busybox/2/ID": f"{NET2}:9000",  # 9000 is not published
        f"{B}/busybox/1/port": "80", f"{B}/busybox/2/port": "9000"}, [])
    assert backends("two_networks") == ({f"{B}/busybox/1/ID": "10.1.2.3:28183", f"{B}/busybox/1/port": "80"}, [])


def test_without_service_network_the_first_network_by_name():
    data = inspect("two_networks")
    del data["Config"]["Labels"]["SERVICE_NETWORK"]
    assert backends(data, INTERNAL)[0][f"{B}/busybox/1/ID"] == f"{NET1}:80"
    data["Config"]["Env"].append("SERVICE_NETWORK=fixture-net2")  # env, like every SERVICE_ setting
    assert backends(data, INTERNAL)[0][f"{B}/busybox/1/ID"] == f"{NET2}:80"


@pytest.mark.parametrize("name", ["user_network", "exposed_unpublished", "podman_exposed"])
def test_container_mode_on_one_network(name):
    data = inspect(name)
    ip = next(iter(data["NetworkSettings"]["Networks"].values()))["IPAddress"]
    ports = sorted(int(spec.split("/")[0]) for spec in data["NetworkSettings"]["Ports"])
    assert list(backends(data, INTERNAL)[0].values()) == [f"{ip}:{port}" for port in ports] + [str(p) for p in ports]


def test_a_container_without_an_address_on_its_network_is_skipped_with_one_note_in_both_layouts():
    data = inspect("two_networks")
    data["Config"]["Labels"]["SERVICE_NETWORK"] = "elsewhere"
    keys, notes = backends(data, INTERNAL)
    servers, traefik_notes = traefik(data, INTERNAL)
    assert keys == {} and servers == {}
    assert notes == traefik_notes and len(notes) == 1 and "no address on network 'elsewhere'" in notes[0]
    layouts = every_layout(INTERNAL)
    keys, notes = keys_of(data, layouts)
    assert set(notes) == {traefik_notes[0]}  # the same words: the change log says them once
    assert keys == layouts[0].container_keys(data)  # the ec layout lists it all the same


def test_a_container_with_no_port_and_no_address_is_no_news_to_backends():
    data = inspect("no_ports")
    data["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] = ""
    assert backends(data, INTERNAL) == ({}, [])


def test_ipv6_only_network_gives_a_bracketed_address():
    data = inspect("podman_ipv6_only")  # fixture-v6only: only fd00:5e:11::2; 80/tcp published on 28285
    assert backends(data, INTERNAL)[0][f"{B}/busybox/1/ID"] == "[fd00:5e:11::2]:80"
    assert traefik(data, INTERNAL)[0] == {"http ipv6-only": "http://[fd00:5e:11::2]:80"}
    assert backends(data)[0][f"{B}/busybox/1/ID"] == "10.1.2.3:28285"


def test_a_dual_stack_network_gives_its_ipv4_address():
    data = inspect("ipv6_network")  # fixture-v6: 172.20.0.2 and fd00:5e:10::2
    assert backends(data, INTERNAL)[0][f"{B}/busybox/1/ID"] == "172.20.0.2:80"


def test_traefik_in_container_mode_may_use_an_unpublished_port():
    servers, notes = traefik(inspect("two_networks"), INTERNAL,
                             traefik_http_services_web_loadbalancer_server_port="9000")
    assert (servers, notes) == ({"http web": f"http://{NET2}:9000"}, [])
    servers, notes = traefik(inspect("two_networks"), traefik_http_services_web_loadbalancer_server_port="9000")
    assert servers == {} and "not published" in notes[0]


# -- the host's network --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("selection", [Selection(), INTERNAL])
def test_a_host_network_container_is_reached_at_host_ip_and_the_container_port_in_either_mode(selection):
    data = inspect("host_network_ports")  # exposes 80/tcp and 53/udp; Docker shows no NetworkSettings.Ports
    assert backends(data, selection) == ({f"{B}/busybox/1/ID": "10.1.2.3:53", f"{B}/busybox/2/ID": "10.1.2.3:80",
                                          f"{B}/busybox/1/port": "53", f"{B}/busybox/2/port": "80"}, [])
    assert traefik(inspect("host_network_ports"), selection) == ({"http host-network-ports": "http://10.1.2.3:80"}, [])
    assert traefik(data, selection, traefik_udp_routers_dns_entrypoints="dns") == (
        {"udp host-network-ports": "10.1.2.3:53"}, [])
    assert selection.reach(data, "fd00::5").endpoints == (Endpoint(53, "udp", "[fd00::5]:53"),
                                                          Endpoint(80, "tcp", "[fd00::5]:80"))


@pytest.mark.parametrize("name", ["podman_host_network_ports", "host_network"])
def test_podman_shows_no_exposed_port_of_a_host_network_container(name):
    """Recorded with --expose 80 and 53/udp on Podman 4.3: its inspect output keeps none of them."""
    for selection in (Selection(), INTERNAL):
        assert backends(name, selection) == ({}, [])


# -- the settings --------------------------------------------------------------------------------------------------

def test_the_settings_flag_over_env_over_default_and_every_layout_built_with_them():
    assert (load([], {}).setting_values()["explicit"], load([], {}).setting_values()["address"]) == (False, PUBLISHED)
    env = {"EC_REGISTRATOR_LAYOUTS": "ec,backends,traefik", "HOST_IP": "10.0.0.5", "EC_REGISTRATOR_EXPLICIT": "true",
           "EC_REGISTRATOR_ADDRESS": "published"}
    config = load(["--address", "Container"], env)
    assert {layout.selection for layout in build_layouts(config.setting_values(), "h")} == {
        Selection(explicit=True, address=CONTAINER)}
    assert load(["--explicit", "no"], env).setting_values()["explicit"] is False


@pytest.mark.parametrize(("env", "message"), [
    ({"EC_REGISTRATOR_EXPLICIT": "sometimes"}, "EC_REGISTRATOR_EXPLICIT: expected true or false, got 'sometimes'"),
    ({"EC_REGISTRATOR_ADDRESS": "internal"},
     "EC_REGISTRATOR_ADDRESS: expected one of published, container, got 'internal'"),
    ({"EC_REGISTRATOR_ADDRESS": "container", "EC_REGISTRATOR_LAYOUTS": "backends"}, "EC_REGISTRATOR_HOST_IP: "),
])
def test_a_bad_value_is_one_line_naming_the_variable(env, message):
    with pytest.raises(ConfigError) as error:
        load([], env)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


# -- discover routes what the backends layout holds ----------------------------------------------------------------

@pytest.mark.parametrize(("name", "address"), [("two_networks", f"{NET2}:80"),
                                               ("podman_ipv6_only", "[fd00:5e:11::2]:80")])
def test_discover_routes_container_addresses(name, address):
    data = inspect(name)
    keys = BackendsLayout(B, HOST_IP, INTERNAL).container_keys(data)
    table = route_table(B, [KeyValue(key, value, 1, 5, 5) for key, value in keys.items()])
    assert table.skipped == ()
    assert [(route.port, [backend.address for backend in route.backends]) for route in table.routes][0] == (
        80, [address])


# -- the layouts agree with tests/support/expect.py's rendering of SPEC §8 on every recording ------------------------

RECORDED = sorted(path.stem for path in FIXTURES.glob("*.json") if path.stem != "podman_events")


@pytest.mark.parametrize("name", RECORDED)
@pytest.mark.parametrize("address", [PUBLISHED, CONTAINER])
def test_every_recorded_container_as_the_spec_text_renders_it(name, address):
    data = inspect(name)
    data["Config"]["Labels"] = {**(data["Config"]["Labels"] or {}), "traefik.enable": "true"}
    selection = Selection(address=address)
    assert BackendsLayout(B, HOST_IP, selection).container_keys(data) == expected_backends(data, B, HOST_IP, address)
    traefik_layout = TraefikLayout(T, HOST_IP, False, parse_rule("rule", DEFAULT_RULE), selection)
    assert traefik_layout.container_keys(data) == expected_traefik(data, T, HOST_IP, address)
