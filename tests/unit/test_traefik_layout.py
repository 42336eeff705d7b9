"""The traefik layout (SPEC §7) on recorded inspect output: labels read as Traefik's Docker provider reads them,
this host's servers, the provider's defaults, hostile labels, the default-rule template, settings, and what the
keys are (shared definitions, owned servers)."""

import pytest

from agent.daemon.settings import load
from agent.layouts import INDEX, OWN, keys_of
from agent.layouts.registry import build_layouts
from agent.layouts.traefik import TraefikLayout, traefik_root
from agent.layouts.traefik_rule import DEFAULT_RULE, Model, normalize, parse_rule
from agent.settings import ConfigError
from tests.unit.fixtures import inspect

T, HOST_IP = "traefik", "10.1.2.3"
RULE_VAR = "EC_REGISTRATOR_TRAEFIK_DEFAULT_RULE"
ENABLE = {"traefik.enable": "true"}
# published_tcp_udp: 80/tcp -> 0.0.0.0:8080, 53/udp -> 0.0.0.0:5353
NAME, ID12 = "published-tcp-udp", "e57c213c0664"
HTTP_SERVER = f"{T}/http/services/{NAME}/loadbalancer/servers/{ID12}/url"


def layout(root: str = T, host_ip: str | None = HOST_IP, exposed_by_default: bool = False,
           rule: str = DEFAULT_RULE) -> TraefikLayout:
    return TraefikLayout(root, host_ip, exposed_by_default, parse_rule(RULE_VAR, rule))


def container(labels: dict[str, str] | None = None, fixture: str = "published_tcp_udp", enable: bool = True,
              name: str | None = None, ports: dict | None = None) -> dict:
    data = inspect(fixture)
    data["Config"]["Labels"] = {**(ENABLE if enable else {}), **(labels or {})}
    if name is not None:
        data["Name"] = "/" + name
    if ports is not None:  # exposed as the engine would show them
        data["NetworkSettings"]["Ports"] = ports
        data["Config"]["ExposedPorts"] = {spec: {} for spec in ports}
    return data


def translate(labels: dict[str, str] | None = None, **kwargs) -> tuple[dict[str, str], list[str]]:
    settings = {key: kwargs.pop(key) for key in ("root", "host_ip", "exposed_by_default", "rule") if key in kwargs}
    done = layout(**settings).translate(container(labels, **kwargs))
    return done.keys, done.notes


def servers(keys: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in keys.items() if "/loadbalancer/servers/" in key}


def noted(notes: list[str], label: str) -> list[str]:
    return [note for note in notes if repr(label) in note]


def bind(host_ip: str, host_port: str) -> list[dict[str, str]]:
    return [{"HostIp": host_ip, "HostPort": host_port}]


# -- labels to keys -------------------------------------------------------------------------------------------

EXAMPLE = {
    "traefik.http.routers.web.rule": "Host(`shop.example`)",
    "traefik.http.routers.web.entrypoints": "websecure, web",
    "traefik.http.routers.web.middlewares": "auth,hdr",
    "traefik.http.routers.web.priority": "10",
    "traefik.http.routers.web.tls.certresolver": "le",
    "traefik.http.routers.web.tls.domains[0].main": "shop.example",
    "traefik.http.routers.web.tls.domains[0].sans": "www.shop.example, api.shop.example",
    "traefik.http.routers.web.service": "shop",
    "traefik.http.services.shop.loadbalancer.passhostheader": "true",
    "traefik.http.services.shop.loadbalancer.healthcheck.path": "/health",
    "traefik.http.services.shop.loadbalancer.healthcheck.interval": "10s",
    "traefik.http.middlewares.auth.basicauth.users": "ann:$apr1$x, bob:$apr1$y",
    "traefik.http.middlewares.hdr.headers.customrequestheaders.X-Foo": "bar",
    "traefik.http.middlewares.hdr.headers.customresponseheaders.X-Frame-Options": "DENY",
}


def test_http_labels_become_keys_with_this_hosts_server():
    keys, notes = translate(EXAMPLE)
    assert keys == {
        f"{T}/http/routers/web/rule": "Host(`shop.example`)",
        f"{T}/http/routers/web/entrypoints/0": "websecure",
        f"{T}/http/routers/web/entrypoints/1": "web",
        f"{T}/http/routers/web/middlewares/0": "auth",
        f"{T}/http/routers/web/middlewares/1": "hdr",
        f"{T}/http/routers/web/priority": "10",
        f"{T}/http/routers/web/tls/certresolver": "le",
        f"{T}/http/routers/web/tls/domains/0/main": "shop.example",
        f"{T}/http/routers/web/tls/domains/0/sans/0": "www.shop.example",
        f"{T}/http/routers/web/tls/domains/0/sans/1": "api.shop.example",
        f"{T}/http/routers/web/service": "shop",
        f"{T}/http/services/shop/loadbalancer/passhostheader": "true",
        f"{T}/http/services/shop/loadbalancer/healthcheck/path": "/health",
        f"{T}/http/services/shop/loadbalancer/healthcheck/interval": "10s",
        f"{T}/http/services/shop/loadbalancer/servers/{ID12}/url": "http://10.1.2.3:8080",
        f"{T}/http/middlewares/auth/basicauth/users/0": "ann:$apr1$x",
        f"{T}/http/middlewares/auth/basicauth/users/1": "bob:$apr1$y",
        f"{T}/http/middlewares/hdr/headers/customrequestheaders/X-Foo": "bar",
        f"{T}/http/middlewares/hdr/headers/customresponseheaders/X-Frame-Options": "DENY",
    }
    assert notes == []


def test_keys_have_no_leading_slash_and_sit_under_the_configured_root():
    keys, _ = translate(EXAMPLE, root="edge/traefik")
    assert keys and all(key.startswith("edge/traefik/http/") for key in keys)
    assert not [key for key in keys if key.startswith("/") or "//" in key]


def test_tcp_labels_give_an_address_server_and_no_http_config():
    keys, notes = translate({
        "traefik.tcp.routers.db.rule": "HostSNI(`*`)",
        "traefik.tcp.routers.db.entrypoints": "pg",
        "traefik.tcp.routers.db.tls.passthrough": "true",
        "traefik.tcp.middlewares.allow.ipallowlist.sourcerange": "10.0.0.0/8, 192.168.0.0/16",
    })
    assert keys == {
        f"{T}/tcp/routers/db/rule": "HostSNI(`*`)",
        f"{T}/tcp/routers/db/entrypoints/0": "pg",
        f"{T}/tcp/routers/db/tls/passthrough": "true",
        f"{T}/tcp/routers/db/service": NAME,
        f"{T}/tcp/services/{NAME}/loadbalancer/servers/{ID12}/address": "10.1.2.3:8080",
        f"{T}/tcp/middlewares/allow/ipallowlist/sourcerange/0": "10.0.0.0/8",
        f"{T}/tcp/middlewares/allow/ipallowlist/sourcerange/1": "192.168.0.0/16",
    }
    assert notes == []


def test_udp_labels_give_an_address_server_from_a_udp_port_and_no_http_config():
    keys, notes = translate({"traefik.udp.routers.dns.entrypoints": "dns"})
    assert keys == {
        f"{T}/udp/routers/dns/entrypoints/0": "dns",
        f"{T}/udp/routers/dns/service": NAME,
        f"{T}/udp/services/{NAME}/loadbalancer/servers/{ID12}/address": "10.1.2.3:5353",
    }
    assert notes == []


def test_tcp_and_udp_together_still_get_no_http_config():
    keys, _ = translate({"traefik.tcp.routers.db.rule": "HostSNI(`*`)", "traefik.udp.routers.dns.entrypoints": "dns"})
    assert {key.split("/")[1] for key in keys} == {"tcp", "udp"}
    assert servers(keys) == {
        f"{T}/tcp/services/{NAME}/loadbalancer/servers/{ID12}/address": "10.1.2.3:8080",
        f"{T}/udp/services/{NAME}/loadbalancer/servers/{ID12}/address": "10.1.2.3:5353",
    }


def test_http_labels_beside_tcp_labels_keep_their_http_config():
    keys, _ = translate({"traefik.tcp.routers.db.rule": "HostSNI(`*`)", "traefik.http.routers.web.rule": "Path(`/`)"})
    assert keys[f"{T}/http/routers/web/rule"] == "Path(`/`)"
    assert keys[f"{T}/http/routers/web/service"] == NAME
    assert keys[HTTP_SERVER] == "http://10.1.2.3:8080"
    assert keys[f"{T}/tcp/services/{NAME}/loadbalancer/servers/{ID12}/address"] == "10.1.2.3:8080"


def test_field_names_match_the_allow_list_whatever_their_case():
    keys, notes = translate({"traefik.HTTP.Routers.Web.Rule": "Path(`/`)",
                             "traefik.http.middlewares.h.Headers.CustomRequestHeaders.X-Foo": "bar"})
    assert notes == []
    assert keys[f"{T}/http/routers/Web/Rule"] == "Path(`/`)"
    assert keys[f"{T}/http/middlewares/h/Headers/CustomRequestHeaders/X-Foo"] == "bar"
    assert f"{T}/http/routers/Web/rule" not in keys  # its own rule is kept, no default one beside it


# -- addresses ------------------------------------------------------------------------------------------------

def test_a_binding_to_a_specific_address_is_used_and_host_ip_for_all_interfaces():
    data = container({"traefik.udp.routers.dns.entrypoints": "dns", "traefik.http.routers.web.rule": "Path(`/`)"},
                     fixture="bound_address")  # 9090/tcp -> 127.0.0.1:19090, 9091/udp -> 0.0.0.0:19091
    short = data["Id"][:12]
    assert servers(layout().translate(data).keys) == {
        f"{T}/http/services/bound-address/loadbalancer/servers/{short}/url": "http://127.0.0.1:19090",
        f"{T}/udp/services/bound-address/loadbalancer/servers/{short}/address": "10.1.2.3:19091",
    }


@pytest.mark.parametrize(("host_ip", "binding", "url"), [
    ("10.1.2.3", "0.0.0.0", "http://10.1.2.3:8080"),
    ("10.1.2.3", "::", "http://10.1.2.3:8080"),
    ("10.1.2.3", "", "http://10.1.2.3:8080"),
    ("10.1.2.3", "192.168.7.7", "http://192.168.7.7:8080"),
    ("fd00::5", "0.0.0.0", "http://[fd00::5]:8080"),
    ("fd00::5", "::", "http://[fd00::5]:8080"),
    ("10.1.2.3", "fd00::7", "http://[fd00::7]:8080"),
])
def test_server_address_is_the_bindings_own_or_host_ip_with_ipv6_in_brackets(host_ip, binding, url):
    keys, _ = translate(host_ip=host_ip, ports={"80/tcp": bind(binding, "8080")})
    assert servers(keys) == {HTTP_SERVER: url}


def test_tcp_ipv6_address_is_bracketed_too():
    keys, _ = translate({"traefik.tcp.routers.db.rule": "HostSNI(`*`)"}, host_ip="fd00::5")
    assert keys[f"{T}/tcp/services/{NAME}/loadbalancer/servers/{ID12}/address"] == "[fd00::5]:8080"


def test_the_first_binding_of_a_port_wins():
    keys, _ = translate(ports={"80/tcp": [*bind("127.0.0.1", "8080"), *bind("0.0.0.0", "9999")]})
    assert servers(keys) == {HTTP_SERVER: "http://127.0.0.1:8080"}


# -- defaults -------------------------------------------------------------------------------------------------

def test_a_container_with_no_traefik_labels_gets_a_service_and_router_named_after_it():
    keys, notes = translate()
    assert keys == {
        f"{T}/http/routers/{NAME}/rule": f"Host(`{NAME}`)",
        f"{T}/http/routers/{NAME}/service": NAME,
        HTTP_SERVER: "http://10.1.2.3:8080",
    }
    assert notes == []


def test_the_default_names_are_the_container_name_normalized():
    keys, _ = translate(name="My_App.v2")
    assert keys == {
        f"{T}/http/routers/My-App-v2/rule": "Host(`My-App-v2`)",
        f"{T}/http/routers/My-App-v2/service": "My-App-v2",
        f"{T}/http/services/My-App-v2/loadbalancer/servers/{ID12}/url": "http://10.1.2.3:8080",
    }


def test_compose_containers_are_named_service_project():
    keys, _ = translate({"com.docker.compose.service": "web", "com.docker.compose.project": "shop"},
                        name="shop-web-1")
    assert keys == {
        f"{T}/http/routers/web-shop/rule": "Host(`web-shop`)",
        f"{T}/http/routers/web-shop/service": "web-shop",
        f"{T}/http/services/web-shop/loadbalancer/servers/{ID12}/url": "http://10.1.2.3:8080",
    }


def test_compose_names_are_normalized_too():
    keys, _ = translate({"com.docker.compose.service": "my_web", "com.docker.compose.project": "the.shop"})
    assert keys[f"{T}/http/routers/my-web-the-shop/rule"] == "Host(`my-web-the-shop`)"


def test_a_compose_service_label_without_a_project_leaves_the_container_name():
    keys, _ = translate({"com.docker.compose.service": "web"})
    assert keys[f"{T}/http/routers/{NAME}/service"] == NAME


def test_the_default_rule_setting_is_used_for_the_default_router():
    rule = 'Host(`{{ .Name }}.example.com`) || Host(`{{ index .Labels "alias" }}`)'
    keys, _ = translate({"alias": "shop.test"}, rule=rule)
    assert keys[f"{T}/http/routers/{NAME}/rule"] == f"Host(`{NAME}.example.com`) || Host(`shop.test`)"


def test_a_labelled_router_without_a_rule_gets_the_default_rule_of_the_container():
    keys, _ = translate({"traefik.http.routers.web.entrypoints": "web"})
    assert keys == {
        f"{T}/http/routers/web/entrypoints/0": "web",
        f"{T}/http/routers/web/rule": f"Host(`{NAME}`)",  # .Name is the service name, not the router's
        f"{T}/http/routers/web/service": NAME,
        HTTP_SERVER: "http://10.1.2.3:8080",
    }


def test_a_labelled_service_alone_gets_a_default_router_named_after_the_container():
    keys, _ = translate({"traefik.http.services.api.loadbalancer.passhostheader": "false"})
    assert keys == {
        f"{T}/http/routers/{NAME}/rule": f"Host(`{NAME}`)",
        f"{T}/http/routers/{NAME}/service": "api",
        f"{T}/http/services/api/loadbalancer/passhostheader": "false",
        f"{T}/http/services/api/loadbalancer/servers/{ID12}/url": "http://10.1.2.3:8080",
    }


def test_no_default_router_with_two_services():
    keys, _ = translate({"traefik.http.services.a.loadbalancer.passhostheader": "true",
                         "traefik.http.services.b.loadbalancer.server.port": "80"})
    assert not [key for key in keys if "/routers/" in key]
    assert servers(keys) == {f"{T}/http/services/a/loadbalancer/servers/{ID12}/url": "http://10.1.2.3:8080",
                             f"{T}/http/services/b/loadbalancer/servers/{ID12}/url": "http://10.1.2.3:8080"}


def test_a_router_without_a_service_is_linked_to_the_only_service():
    keys, _ = translate({"traefik.http.routers.web.rule": "Path(`/`)",
                         "traefik.http.services.api.loadbalancer.server.port": "80"})
    assert keys[f"{T}/http/routers/web/service"] == "api"
    assert not [key for key in keys if key.startswith(f"{T}/http/services/{NAME}/")]  # no default service beside


def test_a_router_without_a_service_is_dropped_with_a_note_when_there_are_two():
    keys, notes = translate({"traefik.http.routers.lost.rule": "Path(`/lost`)",
                             "traefik.http.routers.kept.rule": "Path(`/kept`)",
                             "traefik.http.routers.kept.service": "a",
                             "traefik.http.services.a.loadbalancer.passhostheader": "true",
                             "traefik.http.services.b.loadbalancer.passhostheader": "true"})
    assert not [key for key in keys if "/routers/lost/" in key]
    assert keys[f"{T}/http/routers/kept/service"] == "a"
    assert len(notes) == 1 and "'lost'" in notes[0]


def test_a_tcp_router_without_a_rule_is_dropped_with_a_note():
    keys, notes = translate({"traefik.tcp.routers.db.entrypoints": "pg",
                             "traefik.tcp.routers.ok.rule": "HostSNI(`*`)"})
    assert not [key for key in keys if "/routers/db/" in key]
    assert keys[f"{T}/tcp/routers/ok/service"] == NAME
    assert len([note for note in notes if "'db'" in note and "rule" in note]) == 1
    assert not [key for key in keys if key.startswith(f"{T}/http/")]


def test_a_udp_router_needs_no_rule():
    keys, notes = translate({"traefik.udp.routers.dns.entrypoints": "dns"})
    assert f"{T}/udp/routers/dns/service" in keys and notes == []


def test_a_tcp_router_without_a_service_is_dropped_when_there_are_two_tcp_services():
    keys, notes = translate({"traefik.tcp.routers.db.rule": "HostSNI(`*`)",
                             "traefik.tcp.services.a.loadbalancer.proxyprotocol.version": "2",
                             "traefik.tcp.services.b.loadbalancer.proxyprotocol.version": "1"})
    assert not [key for key in keys if "/routers/" in key]
    assert len([note for note in notes if "'db'" in note]) == 1


# -- server choices -------------------------------------------------------------------------------------------

def test_server_port_label_picks_the_container_port_and_is_not_written():
    data = container({"traefik.http.services.web.loadbalancer.server.port": "443"}, fixture="three_ports")
    keys = layout().translate(data).keys  # 80/tcp -> 8081, 443/tcp -> 8443, 53/udp -> 5354
    short = data["Id"][:12]
    assert servers(keys) == {f"{T}/http/services/web/loadbalancer/servers/{short}/url": "http://10.1.2.3:8443"}
    assert not [key for key in keys if "/server/" in key or key.endswith("/port")]


def test_without_a_port_label_the_lowest_port_of_the_protocol_is_used():
    data = container({"traefik.http.routers.web.rule": "Path(`/`)", "traefik.udp.routers.dns.entrypoints": "dns",
                      "traefik.tcp.routers.db.rule": "HostSNI(`*`)"}, fixture="three_ports")
    short = data["Id"][:12]
    assert servers(layout().translate(data).keys) == {
        f"{T}/http/services/three-ports/loadbalancer/servers/{short}/url": "http://10.1.2.3:8081",  # not 53/udp
        f"{T}/tcp/services/three-ports/loadbalancer/servers/{short}/address": "10.1.2.3:8081",
        f"{T}/udp/services/three-ports/loadbalancer/servers/{short}/address": "10.1.2.3:5354",
    }


def test_ports_are_compared_as_numbers():
    keys, _ = translate(ports={"8080/tcp": bind("0.0.0.0", "1"), "900/tcp": bind("0.0.0.0", "2")})
    assert servers(keys) == {HTTP_SERVER: "http://10.1.2.3:2"}


def test_server_scheme_label_changes_the_url_scheme_and_is_not_written():
    keys, notes = translate({"traefik.http.services.web.loadbalancer.server.scheme": "https"})
    assert servers(keys) == {f"{T}/http/services/web/loadbalancer/servers/{ID12}/url": "https://10.1.2.3:8080"}
    assert not [key for key in keys if "scheme" in key] and notes == []


def test_server_port_and_scheme_together():
    data = container({"traefik.http.services.web.loadbalancer.server.port": "443",
                      "traefik.http.services.web.loadbalancer.server.scheme": "h2c"}, fixture="three_ports")
    assert list(servers(layout().translate(data).keys).values()) == ["h2c://10.1.2.3:8443"]


def test_server_url_label_replaces_the_server():
    keys, notes = translate({"traefik.http.services.web.loadbalancer.server.url": "http://backend.internal:9000"},
                            ports={})
    assert servers(keys) == {f"{T}/http/services/web/loadbalancer/servers/{ID12}/url": "http://backend.internal:9000"}
    assert notes == []


@pytest.mark.parametrize("other", ["port", "scheme"])
def test_server_url_with_port_or_scheme_gives_no_server_and_a_note(other):
    value = "80" if other == "port" else "https"
    keys, notes = translate({"traefik.http.services.web.loadbalancer.server.url": "http://backend.internal:9000",
                             f"traefik.http.services.web.loadbalancer.server.{other}": value})
    assert servers(keys) == {}
    assert len([note for note in notes if "'web'" in note and "url" in note]) == 1


def test_an_unpublished_port_gives_no_server_and_a_note():
    data = container(fixture="exposed_unpublished")  # 9000/tcp exposed, not published
    done = layout().translate(data)
    assert servers(done.keys) == {}
    assert len(done.notes) == 1 and "9000" in done.notes[0] and "not published" in done.notes[0]


def test_the_lowest_port_unpublished_is_not_replaced_by_a_published_one():
    keys, notes = translate(ports={"80/tcp": None, "443/tcp": bind("0.0.0.0", "8443")})
    assert servers(keys) == {}
    assert len(notes) == 1 and "80" in notes[0]


def test_a_port_label_naming_a_port_not_exposed_gives_no_server_and_a_note():
    label = "traefik.http.services.web.loadbalancer.server.port"
    for value in ("81", "http", "-1"):
        keys, notes = translate({label: value})
        assert servers(keys) == {}
        assert len(notes) == 1 and repr(value) in notes[0] and "'web'" in notes[0]


def test_a_container_without_ports_gives_no_server_and_a_note():
    done = layout().translate(container(fixture="no_ports"))
    assert servers(done.keys) == {}
    assert len(done.notes) == 1 and "exposes no port" in done.notes[0]


def test_server_fields_land_under_this_hosts_server():
    keys, notes = translate({"traefik.http.services.web.loadbalancer.server.weight": "5",
                             "traefik.http.services.web.loadbalancer.server.preservepath": "true",
                             "traefik.tcp.routers.db.rule": "HostSNI(`*`)",
                             "traefik.tcp.services.db.loadbalancer.server.tls": "true"})
    assert servers(keys) == {
        f"{T}/http/services/web/loadbalancer/servers/{ID12}/url": "http://10.1.2.3:8080",
        f"{T}/http/services/web/loadbalancer/servers/{ID12}/weight": "5",
        f"{T}/http/services/web/loadbalancer/servers/{ID12}/preservepath": "true",
        f"{T}/tcp/services/db/loadbalancer/servers/{ID12}/address": "10.1.2.3:8080",
        f"{T}/tcp/services/db/loadbalancer/servers/{ID12}/tls": "true",
    }
    assert notes == []


def test_a_server_field_of_a_service_without_a_server_is_not_written():
    keys, _ = translate({"traefik.http.services.web.loadbalancer.server.weight": "5"}, ports={"80/tcp": None})
    assert servers(keys) == {}


# -- selection ------------------------------------------------------------------------------------------------

def test_traefik_enable_true_is_needed_by_default():
    assert layout().translate(container(enable=False)).keys == {}
    assert layout().translate(container(enable=False)).notes == []
    assert layout().translate(container({"traefik.enable": "false"}, enable=False)).keys == {}
    assert layout().translate(container()).keys


def test_exposed_by_default_takes_every_container_unless_traefik_enable_false():
    exposing = layout(exposed_by_default=True)
    assert exposing.translate(container(enable=False)).keys
    assert exposing.translate(container({"traefik.enable": "false"}, enable=False)).keys == {}
    assert exposing.translate(container({"traefik.enable": "true"}, enable=False)).keys


@pytest.mark.parametrize("value", ["1", "t", "T", "true", "TRUE", "True"])
def test_go_true_spellings_enable(value):
    assert layout().translate(container({"traefik.enable": value}, enable=False)).keys


@pytest.mark.parametrize("value", ["0", "f", "F", "false", "FALSE", "False", "yes", "on", "no", "", "enabled"])
def test_go_false_spellings_and_anything_else_disable(value):
    assert layout(exposed_by_default=True).translate(container({"traefik.enable": value}, enable=False)).keys == {}
    assert layout().translate(container({"traefik.enable": value}, enable=False)).keys == {}


@pytest.mark.parametrize("value", ["tRuE", " true"])
def test_traefik_enable_in_a_spelling_go_refuses_does_not_enable(value):
    assert layout().translate(container({"traefik.enable": value}, enable=False)).keys == {}


@pytest.mark.parametrize("fixture", ["paused", "service_ignored"])
def test_only_registrable_containers_have_keys(fixture):
    data = container(fixture=fixture)
    assert keys_of(data, [layout(exposed_by_default=True)]) == ({}, [])


def test_traefik_docker_labels_are_the_providers_own_and_not_noted():
    keys, notes = translate({"traefik.docker.network": "front", "traefik.docker.allownonrunning": "true"})
    assert notes == [] and not [key for key in keys if "docker" in key or "network" in key]


# -- hostile labels -------------------------------------------------------------------------------------------

HOSTILE = {
    "traefik.http.routers.web.nope": "x",  # unknown field
    "traefik.http.routers.web.tls.domains[1000].main": "a.example",  # index out of the pattern
    "traefik.http.routers.web.priority": "high",  # not an integer
    "traefik.http.routers.web.tls": "yes",  # not a Go bool
    "traefik.http.services.svc.loadbalancer.healthcheck.interval": "soon",  # not a duration
    "traefik.http.services.svc.loadbalancer.sticky.cookie.maxage": "1.5",
    "traefik.http.routers.a@docker.rule": "Host(`at`)",
    "traefik.http.routers.a/b.rule": "Host(`slash`)",
    "traefik.http.routers.a\nb.rule": "Host(`newline`)",
    "traefik.http.routers.a\x1bb.rule": "Host(`escape`)",
    "traefik.http.routers.a\u200bb.rule": "Host(`zero-width`)",
    "traefik.http.services.s@file.loadbalancer.passhostheader": "true",
    "traefik.http.middlewares.m/x.headers.customrequestheaders.X-Foo": "bar",
    "traefik.http.middlewares.m.headers.customrequestheaders.X@Foo": "bar",
    "traefik.http.middlewares.m.headers.customrequestheaders.X/Foo": "bar",
    "traefik.tls.stores.default.defaultcertificate.certfile": "/certs/c.pem",
    "traefik.tls.options.modern.minversion": "VersionTLS13",
    "traefik.ftp.routers.x.rule": "x",
    "traefik.http.gateways.x.rule": "x",
    "traefik.http.routers": "x",
    "traefik.http.routers.web": "x",
    "traefik.http.routers..rule": "x",
    "traefik.udp.services.u.loadbalancer.sticky": "true",
    "traefik.udp.middlewares.m.ipallowlist.sourcerange": "10.0.0.0/8",
    "traefik.something": "x",
}


def test_hostile_labels_are_skipped_each_with_a_note_naming_it_and_the_rest_is_translated():
    keys, notes = translate({**HOSTILE, "traefik.http.routers.web.rule": "Host(`ok`)"})
    assert keys == {
        f"{T}/http/routers/web/rule": "Host(`ok`)",
        f"{T}/http/routers/web/service": NAME,
        HTTP_SERVER: "http://10.1.2.3:8080",
    }
    for label in HOSTILE:
        assert len(noted(notes, label)) == 1, label
    assert len(notes) == len(HOSTILE)


@pytest.mark.parametrize(("field", "value"), [
    ("routers.web.priority", "1.5"),
    ("routers.web.priority", "0x10"),
    ("routers.web.priority", "１２"),
    ("routers.web.priority", "1 000"),
    ("routers.web.priority", "9" * 19),
    ("routers.web.priority", ""),
    ("services.s.loadbalancer.server.weight", "five"),
    ("services.s.loadbalancer.healthcheck.interval", "10 s"),
    ("services.s.loadbalancer.healthcheck.interval", "1d"),
    ("services.s.loadbalancer.healthcheck.interval", "s"),
    ("services.s.loadbalancer.healthcheck.interval", "1e3s"),
    ("services.s.loadbalancer.passhostheader", "yes"),
    ("services.s.loadbalancer.passhostheader", "on"),
    ("services.s.loadbalancer.passhostheader", ""),
    ("routers.web.entrypoints", " , "),
])
def test_a_value_of_the_wrong_type_is_skipped_with_a_note(field, value):
    label = f"traefik.http.{field}"
    keys, notes = translate({label: value})
    assert len(noted(notes, label)) == 1 and len(notes) == 1
    assert not [key for key in keys if field.split(".")[-1] in key.split("/")]


@pytest.mark.parametrize(("field", "value"), [
    ("routers.web.priority", "-3"),
    ("routers.web.priority", "+7"),
    ("routers.web.priority", "9" * 18),
    ("services.s.loadbalancer.healthcheck.interval", "10s"),
    ("services.s.loadbalancer.healthcheck.interval", "1h30m"),
    ("services.s.loadbalancer.healthcheck.interval", "1.5s"),
    ("services.s.loadbalancer.healthcheck.interval", ".5s"),
    ("services.s.loadbalancer.healthcheck.interval", "300ms"),
    ("services.s.loadbalancer.healthcheck.interval", "2µs"),
    ("services.s.loadbalancer.healthcheck.interval", "42"),
    ("services.s.loadbalancer.passhostheader", "T"),
    ("services.s.loadbalancer.passhostheader", "False"),
    ("services.s.loadbalancer.passhostheader", "1"),
])
def test_a_value_of_the_right_type_is_written_as_given(field, value):
    keys, notes = translate({f"traefik.http.{field}": value})
    assert notes == []
    name = field.split(".")[1]
    path = "/".join(field.split(".")[2:])
    assert keys[f"{T}/http/{field.split('.')[0]}/{name}/{path}"] == value


@pytest.mark.parametrize(("field", "value"), [
    ("passhostheader", "tRuE"), ("passhostheader", "FaLsE"), ("passhostheader", "tRUE"),  # Go's ParseBool refuses
    ("healthcheck.interval", "3000000h"), ("healthcheck.interval", "10000000000s"),  # over Go's 2^63 ns
    ("healthcheck.interval", "99999999999999999999ns"),
])
def test_a_value_go_cannot_decode_is_skipped(field, value):
    label = f"traefik.http.services.s.loadbalancer.{field}"
    keys, notes = translate({label: value})
    assert len(noted(notes, label)) == 1
    assert f"{T}/http/services/s/loadbalancer/{field.replace('.', '/')}" not in keys


@pytest.mark.parametrize("label", ["traefik.tcp.services.db.loadbalancer.server.scheme",
                                   "traefik.tcp.services.db.loadbalancer.server.url",
                                   "traefik.udp.services.dns.loadbalancer.server.url"])
def test_a_scheme_or_url_of_a_tcp_or_udp_server_is_skipped_with_a_note(label):
    _, notes = translate({label: "https"})
    assert len(noted(notes, label)) == 1


def test_compose_labels_that_normalize_to_nothing_give_no_empty_names():
    keys, notes = translate({"com.docker.compose.service": "_", "com.docker.compose.project": "@"})
    assert keys and not [key for key in keys if "//" in key]
    assert "" not in keys.values()


# -- Traefik's defaults for empty or missing values -----------------------------------------------------------

def test_a_default_rule_that_renders_empty_drops_the_router():
    keys, notes = translate(rule='{{ index .Labels "host" }}')
    assert not [key for key in keys if "/routers/" in key]
    assert len(notes) == 1


def test_an_empty_http_rule_label_gets_the_default_rule():
    keys, _ = translate({"traefik.http.routers.web.rule": ""})
    assert keys[f"{T}/http/routers/web/rule"] == f"Host(`{NAME}`)"


def test_an_empty_tcp_rule_label_drops_the_router():
    keys, notes = translate({"traefik.tcp.routers.db.rule": ""})
    assert not [key for key in keys if "/routers/" in key]
    assert len([note for note in notes if "'db'" in note]) == 1


def test_an_empty_service_label_is_linked_to_the_only_service():
    keys, _ = translate({"traefik.http.routers.web.service": ""})
    assert keys[f"{T}/http/routers/web/service"] == NAME


def test_tcp_middlewares_alone_leave_a_container_its_http_defaults():
    keys, _ = translate({"traefik.tcp.middlewares.allow.ipallowlist.sourcerange": "10.0.0.0/8"})
    assert keys == {
        f"{T}/http/routers/{NAME}/rule": f"Host(`{NAME}`)",
        f"{T}/http/routers/{NAME}/service": NAME,
        HTTP_SERVER: "http://10.1.2.3:8080",
        f"{T}/tcp/middlewares/allow/ipallowlist/sourcerange/0": "10.0.0.0/8",
    }


# -- the default-rule template --------------------------------------------------------------------------------

MODEL = Model("web-shop", "shop_web_1", {"host": "a.example", "sub.dom": "My_Sub.Dom", 'q"k': "quoted"})


@pytest.mark.parametrize(("template", "rendered"), [
    (DEFAULT_RULE, "Host(`web-shop`)"),
    ("Host(`{{ .Name }}.example.com`)", "Host(`web-shop.example.com`)"),
    ("Host(`{{.Name}}`)", "Host(`web-shop`)"),
    ("Host(`{{ .ContainerName }}`)", "Host(`shop_web_1`)"),
    ("Host(`{{ normalize .ContainerName }}`)", "Host(`shop-web-1`)"),
    ('Host(`{{ index .Labels "host" }}`)', "Host(`a.example`)"),
    ('Host(`{{ normalize (index .Labels "sub.dom") }}.example`)', "Host(`My-Sub-Dom.example`)"),
    ("Host(`{{ normalize (.Name) }}`)", "Host(`web-shop`)"),
    ("Host(`{{ (.ContainerName) }}`)", "Host(`shop_web_1`)"),
    ('Host(`{{ index .Labels "q\\"k" }}`)', "Host(`quoted`)"),
    ('PathPrefix(`/{{ index .Labels "missing" }}`)', "PathPrefix(`/`)"),
    ("Host(`{{ .Name }}`) || Host(`{{ .Name }}.local`)", "Host(`web-shop`) || Host(`web-shop.local`)"),
    ("{{ .Name }}", "web-shop"),
    ("Host(`static.example`)", "Host(`static.example`)"),
])
def test_the_rule_template_renders(template, rendered):
    assert parse_rule(RULE_VAR, template).render(MODEL) == rendered


@pytest.mark.parametrize("template", [
    "Host(`{{ .Other }}`)",
    "Host(`{{ .Labels }}`)",
    'Host(`{{ printf "%s" .Name }}`)',
    "Host(`{{ .Name | normalize }}`)",
    "Host(`{{ index .Labels host }}`)",
    'Host(`{{ index .Other "k" }}`)',
    "Host(`{{ upper .Name }}`)",
    "Host(`{{ }}`)",
    "Host(`{{ .Name`)",
    "Host(`{{ .Name }}`) }}",
    "Host(`{{ .Name }}`) {{",
    "",
    "   ",
])
def test_anything_else_in_the_rule_template_is_a_config_error_naming_the_variable(template):
    with pytest.raises(ConfigError, match=f"^{RULE_VAR}: expected a rule"):
        parse_rule(RULE_VAR, template)


def test_index_of_a_non_ascii_label_key():
    model = Model("web", "web", {"hôte": "h.example"})
    assert parse_rule(RULE_VAR, 'Host(`{{ index .Labels "hôte" }}`)').render(model) == "Host(`h.example`)"


def test_trim_markers_trim_as_in_go_templates():
    assert parse_rule(RULE_VAR, "Host(`  {{- .Name -}}  `)").render(MODEL) == "Host(`web-shop`)"


@pytest.mark.parametrize(("text", "normalized"), [
    ("web", "web"),
    ("my_app.v2", "my-app-v2"),
    ("/web", "web"),
    ("--a__b..c--", "a-b-c"),
    ("a  b", "a-b"),
    ("Ünï Cödé", "Ünï-Cödé"),
    ("日本_語", "日本-語"),
    ("a²b", "a²b"),  # ² is a number (No)
    ("a\u200bb", "a-b"),
    ("a@b/c", "a-b-c"),
    ("", ""),
    ("___", ""),
])
def test_normalize_is_traefiks(text, normalized):
    assert normalize(text) == normalized


# -- settings -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["/traefik", "/", "", "a/../b", ".", "/edge/traefik"])
def test_a_traefik_root_with_a_leading_slash_or_no_name_is_a_config_error(text):
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_TRAEFIK_ROOT: expected a key prefix without a leading '/'"):
        traefik_root(text)


@pytest.mark.parametrize(("text", "root"), [("traefik", "traefik"), ("edge/traefik/", "edge/traefik"),
                                            ("a//b", "a/b")])
def test_a_traefik_root_is_a_key_prefix(text, root):
    assert traefik_root(text) == root


def test_traefik_settings_through_load():
    assert load([], {}).layout_settings["traefik_root"] == "traefik"
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_TRAEFIK_ROOT: "):
        load([], {"EC_REGISTRATOR_TRAEFIK_ROOT": "/traefik"})
    with pytest.raises(ConfigError, match=r"^--traefik-root \(EC_REGISTRATOR_TRAEFIK_ROOT\): "):
        load(["--traefik-root", "/traefik"], {})
    with pytest.raises(ConfigError, match=f"^{RULE_VAR}: expected a rule"):
        load([], {RULE_VAR: "Host(`{{ .Other }}`)"})
    with pytest.raises(ConfigError, match=rf"^--traefik-default-rule \({RULE_VAR}\): expected a rule"):
        load(["--traefik-default-rule", "{{ printf .Name }}"], {})
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_TRAEFIK_EXPOSED_BY_DEFAULT: expected true or false"):
        load([], {"EC_REGISTRATOR_TRAEFIK_EXPOSED_BY_DEFAULT": "maybe"})
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_HOST_IP: "):
        load([], {"EC_REGISTRATOR_LAYOUTS": "traefik"})


def test_the_traefik_layout_is_built_from_its_settings():
    config = load([], {"EC_REGISTRATOR_LAYOUTS": "traefik", "HOST_IP": "10.0.0.5",
                       "EC_REGISTRATOR_TRAEFIK_ROOT": "edge/traefik",
                       "EC_REGISTRATOR_TRAEFIK_EXPOSED_BY_DEFAULT": "true",
                       RULE_VAR: "Host(`{{ .Name }}.example.com`)"})
    [built] = build_layouts(config.setting_values(), "node")
    assert isinstance(built, TraefikLayout)
    assert (built.name, built.root, built.host_ip, built.exposed_by_default) == ("traefik", "edge/traefik",
                                                                                  "10.0.0.5", True)
    assert built.container_keys(container(enable=False)) == {
        f"edge/traefik/http/routers/{NAME}/rule": f"Host(`{NAME}.example.com`)",
        f"edge/traefik/http/routers/{NAME}/service": NAME,
        f"edge/traefik/http/services/{NAME}/loadbalancer/servers/{ID12}/url": "http://10.0.0.5:8080",
    }


def test_container_keys_are_the_translations_keys_and_its_notes_say_what_was_left_out():
    hostile = container({"traefik.http.routers.web.priority": "high"})
    assert layout().container_keys(hostile) == layout().translate(hostile).keys
    assert len(noted(layout().translate(hostile).notes, "traefik.http.routers.web.priority")) == 1


# -- what the keys are ----------------------------------------------------------------------------------------

OTHER_ID = "f" * 64


def example_keys(root: str = T) -> tuple[dict[str, str], dict[str, str]]:
    """The example container's keys, and those of the same container as another id (a second replica here)."""
    mine = layout(root).translate(container(EXAMPLE)).keys
    other = container(EXAMPLE)
    other["Id"] = OTHER_ID
    return mine, layout(root).translate(other).keys


def test_definitions_are_shared_servers_are_not():
    mine, _ = example_keys()
    lay = layout()
    assert {key for key in mine if not lay.shared(key)} == set(servers(mine)) != set()
    assert lay.shared(f"{T}/http/services/shop/loadbalancer/healthcheck/path")
    assert not lay.shared(f"{T}/http/services/shop/loadbalancer/servers/{ID12}/url")
    assert not lay.shared(f"{T}/tcp/services/db/loadbalancer/servers/{ID12}/address")
    for outside in ("registry/x", f"/{T}/http/routers/web/rule", f"{T}x/http/routers/web/rule", T):
        assert not lay.shared(outside), outside


def test_servers_rank_own_before_definitions_index():
    mine, _ = example_keys()
    lay = layout()
    assert {key: lay.rank(key) for key in mine} == {key: OWN if key in servers(mine) else INDEX for key in mine}
    assert OWN < INDEX


def test_owned_is_only_the_servers_of_the_given_containers():
    mine, other = example_keys()
    kvs = {**mine, **other, f"{T}/http/routers/gone/rule": "x"}
    lay = layout()
    data = container(EXAMPLE)
    assert lay.owned(kvs, [data["Id"]]) == set(servers(mine))
    assert lay.owned(kvs, [data["Id"], OTHER_ID]) == set(servers(mine)) | set(servers(other))
    assert lay.owned(kvs, []) == set()


def test_watched_are_the_definitions_of_the_wanted_keys():
    mine, _ = example_keys()
    assert layout().watched(mine) == {f"{T}/http/routers/web/", f"{T}/http/services/shop/",
                                      f"{T}/http/middlewares/auth/", f"{T}/http/middlewares/hdr/"}
    assert layout().watched({"registry/containers/x/id": "x", f"{T}/http/routers": "x"}) == set()


def test_more_to_read_is_the_definition_of_each_shared_key_found_but_not_wanted():
    mine, _ = example_keys()
    found = {
        f"{T}/http/routers/web/rule": "Host(`shop.example`)",  # wanted
        f"{T}/http/routers/old/rule": "Path(`/old`)",  # shared, no longer wanted
        f"{T}/http/middlewares/gone/headers/customrequestheaders/X-Foo": "bar",
        f"{T}/tcp/services/db/loadbalancer/proxyprotocol/version": "2",
        f"{T}/http/services/shop/loadbalancer/servers/aaaaaaaaaaaa/url": "http://10.9.9.9:1",  # a server
    }
    assert layout().more_to_read(found, mine, [container()["Id"]]) == (
        set(), {f"{T}/http/routers/old/", f"{T}/http/middlewares/gone/", f"{T}/tcp/services/db/"})
    assert layout().more_to_read({key: mine[key] for key in mine}, mine, []) == (set(), set())


def test_recorded_is_every_key_under_the_root_and_no_host_prefixes():
    lay = layout()
    assert lay.recorded(f"{T}/http/routers/web/rule") and lay.recorded(HTTP_SERVER)
    assert not lay.recorded(f"{T}x/http/routers/web/rule") and not lay.recorded(f"/{T}/http/routers/web/rule")
    assert not lay.recorded("registry/containers/x/id")
    assert lay.host_prefixes() == ()


def test_the_classification_follows_a_nested_root():
    root = "edge/traefik"
    mine, other = example_keys(root)
    lay = layout(root)
    server = f"{root}/http/services/shop/loadbalancer/servers/{ID12}/url"
    assert server in mine and not lay.shared(server) and lay.rank(server) == OWN
    assert lay.shared(f"{root}/http/routers/web/rule") and lay.rank(f"{root}/http/routers/web/rule") == INDEX
    assert lay.owned({**mine, **other}, [OTHER_ID]) == set(servers(other))
    assert f"{root}/http/routers/web/" in lay.watched(mine)
    assert lay.more_to_read({f"{root}/http/routers/old/rule": "x"}, mine, []) == (set(), {f"{root}/http/routers/old/"})
    assert not lay.shared(f"{T}/http/routers/web/rule")
