"""Configuration: precedence, aliases, defaults and one-line errors (SPEC §2)."""

import dataclasses

import pytest

from agent import tlsfiles
from agent.daemon.settings import SETTINGS, Config, all_settings, build_parser, load
from agent.settings import ConfigError, Endpoint
from tests.support.tls import make_tls

BASE = {"EC_REGISTRATOR_HOST": "node"}


def test_defaults():
    config = load([], {})
    assert config.docker_url == "unix:///var/run/docker.sock"
    assert config.etcd_endpoints == (Endpoint("http", "localhost", 2379),)
    assert (config.etcd_dir, config.ttl, config.layouts, config.resync) == ("/registry", 30, ("ec",), 60)
    assert config.http_addr == ("0.0.0.0", 9479)
    assert config.host is None


def test_flag_beats_env_beats_alias():
    env = {"EC_REGISTRATOR_ETCD_HOSTS": "a:1", "EC_ETCD_HOSTS": "b:2", "ETCD_HOST": "c:3"}
    assert load(["--etcd-hosts", "d:4"], env).etcd_endpoints[0].host == "d"
    assert load([], env).etcd_endpoints[0].host == "a"
    assert load([], {"EC_ETCD_HOSTS": "b:2", "ETCD_HOST": "c:3"}).etcd_endpoints[0].host == "b"
    assert load([], {"ETCD_HOST": "c:3"}).etcd_endpoints[0].host == "c"
    assert load([], {"EC_HOST": "seed-host"}).host == "seed-host"


def test_endpoint_forms():
    config = load([], {"EC_REGISTRATOR_ETCD_HOSTS": "h1:2379, https://h2:2380,http://[::1]:2379"})
    assert [str(e) for e in config.etcd_endpoints] == ["http://h1:2379", "https://h2:2380", "http://[::1]:2379"]


def test_tls_file_implies_https(tmp_path):
    tls = make_tls(tmp_path)
    assert load([], {"EC_REGISTRATOR_ETCD_CA": str(tls.ca)}).etcd_endpoints[0].scheme == "https"


def test_tls_files_are_checked_at_start(tmp_path):
    tls = make_tls(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    cases = [
        ({"EC_REGISTRATOR_ETCD_CERT": str(tls.client_cert)}, "both a certificate and its key"),
        ({"EC_REGISTRATOR_ETCD_CERT": str(tls.client_cert), "EC_REGISTRATOR_ETCD_KEY": str(tls.server_key)},
         "EC_REGISTRATOR_ETCD_KEY: expected the private key"),
        ({"EC_REGISTRATOR_ETCD_CERT": str(tls.expired_cert), "EC_REGISTRATOR_ETCD_KEY": str(tls.expired_key)},
         "expired"),
        ({"EC_REGISTRATOR_ETCD_CA": str(garbage)}, "EC_REGISTRATOR_ETCD_CA: expected PEM"),
    ]
    for env, message in cases:
        with pytest.raises(ConfigError, match=message):
            load([], env)
    good = {"EC_REGISTRATOR_ETCD_CERT": str(tls.client_cert), "EC_REGISTRATOR_ETCD_KEY": str(tls.client_key),
            "EC_REGISTRATOR_ETCD_CA": str(tls.ca)}
    assert load([], good).etcd_cert == str(tls.client_cert)


def test_docker_host_wins_over_socket():
    assert load([], {"DOCKER_HOST": "tcp://proxy:2375", "EC_REGISTRATOR_DOCKER_SOCKET": "/x.sock"}).docker_url == \
        "tcp://proxy:2375"
    # the socket setting is then not read at all, as before settings carried their parsers
    assert load([], {"DOCKER_HOST": "unix:///d.sock", "EC_REGISTRATOR_DOCKER_SOCKET": ""}).docker_url == \
        "unix:///d.sock"
    with pytest.raises(ConfigError, match="EC_REGISTRATOR_DOCKER_SOCKET: expected an absolute socket path"):
        load([], {"EC_REGISTRATOR_DOCKER_SOCKET": "docker.sock"})


@pytest.mark.parametrize("text", ["registry", "/registry", "/registry/", "//registry"])
def test_root_spellings(text):
    assert load([], {"EC_REGISTRATOR_ETCD_DIR": text}).etcd_dir == "/registry"


@pytest.mark.parametrize(("env", "named"), [
    ({"EC_REGISTRATOR_TTL": "-1"}, "EC_REGISTRATOR_TTL"),
    ({"EC_REGISTRATOR_HOST": "hosts"}, "EC_REGISTRATOR_HOST"),
    ({"EC_REGISTRATOR_HOST": ""}, "EC_REGISTRATOR_HOST"),
    ({"EC_REGISTRATOR_ETCD_HOSTS": "a:1,,b:2"}, "EC_REGISTRATOR_ETCD_HOSTS"),
    ({"EC_REGISTRATOR_LOG_FORMAT": "xml"}, "EC_REGISTRATOR_LOG_FORMAT"),
    ({"EC_REGISTRATOR_ETCD_PASSWORD": "secret"}, "EC_REGISTRATOR_ETCD_USER"),
    ({"EC_REGISTRATOR_ETCD_DIR": "a/../b"}, "EC_REGISTRATOR_ETCD_DIR"),
])
def test_errors_name_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        load([], env)


def test_password_never_in_repr():
    config = load([], {"EC_REGISTRATOR_ETCD_USER": "u", "EC_REGISTRATOR_ETCD_PASSWORD": "hunter2"})
    assert config.etcd_password == "hunter2"
    assert "hunter2" not in repr(config)


def test_backends_layout_takes_host_ip_and_its_seed_alias():
    config = load([], {"EC_REGISTRATOR_LAYOUTS": "ec,backends", "HOST_IP": "10.0.0.5", "ETCD_HOST": "e:4001"})
    assert config.layouts == ("ec", "backends")
    assert config.layout_settings["host_ip"] == "10.0.0.5"
    assert config.layout_settings["backends_dir"] == "/backends"
    assert config.etcd_endpoints[0] == Endpoint("http", "e", 4001)


@pytest.mark.parametrize(("env", "named"), [
    ({"EC_REGISTRATOR_LAYOUTS": "backends"}, "EC_REGISTRATOR_HOST_IP"),
    ({"EC_REGISTRATOR_LAYOUTS": "ec,backends", "HOST_IP": "1.2.3.4", "EC_REGISTRATOR_BACKENDS_DIR": "registry/b"},
     "EC_REGISTRATOR_BACKENDS_DIR"),
])
def test_backends_errors(env, named):
    with pytest.raises(ConfigError, match=named):
        load([], env)


# str.isdigit() takes '²' and int() refuses it (a traceback); isdigit, int() and re's \d all take '٣' as 3
NOT_ASCII_DIGITS = ["²", "٣", "３", "3²", "٣0", "\u00b9\u2070"]


@pytest.mark.parametrize("variable", ["EC_REGISTRATOR_TTL", "EC_REGISTRATOR_RESYNC"])
@pytest.mark.parametrize("text", [*NOT_ASCII_DIGITS, "3_0", "+30", "3.0", "0x1e", "", " ",
                                  pytest.param("1" * 5000, id="5000-digits")])
def test_seconds_take_ascii_digits_only(variable, text):
    with pytest.raises(ConfigError, match=f"^{variable}: expected (0 or )?a whole number of seconds") as error:
        load([], {variable: text})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("variable", "text"), [
    *(("EC_REGISTRATOR_ETCD_HOSTS", f"localhost:{port}") for port in ["٢٣٧٩", "２３７９", "2379²", "²"]),
    ("EC_REGISTRATOR_ETCD_HOSTS", "a:1,https://b:٢"),
    ("EC_REGISTRATOR_ETCD_HOSTS", "a: 1"),
    *(("EC_REGISTRATOR_HTTP_ADDR", f"0.0.0.0:{port}") for port in ["٩٤٧٩", "²", "9479³", " 9479"]),
    pytest.param("EC_REGISTRATOR_HTTP_ADDR", ":" + "1" * 5000, id="http-port-5000-digits"),
])
def test_ports_take_ascii_digits_only(variable, text):
    with pytest.raises(ConfigError, match=f"^{variable}: expected"):
        load([], {variable: text})


def test_numeric_flags_take_ascii_digits_only():
    for flag, variable in [("--ttl", "EC_REGISTRATOR_TTL"), ("--resync", "EC_REGISTRATOR_RESYNC")]:
        with pytest.raises(ConfigError, match=rf"^{flag} \({variable}\): "):  # what the user typed, first
            load([flag, "٣"], {variable: "30"})


@pytest.mark.parametrize(("typed", "value"), [("EC_REGISTRATOR_TTL", "1"), ("EC_REGISTRATOR_TTL", "abc"),
                                              ("--ttl", "1"), ("--ttl", "abc")])
def test_one_rule_one_wording_naming_what_was_typed(typed, value):
    """Issue 24: TTL=1 said "0 or at least 2 seconds", TTL=abc "(0 or more)", and --ttl abc named the variable."""
    argv, environ = ([typed, value], {}) if typed.startswith("--") else ([], {typed: value})
    named = "--ttl (EC_REGISTRATOR_TTL)" if typed.startswith("--") else "EC_REGISTRATOR_TTL"
    with pytest.raises(ConfigError) as error:
        load(argv, environ)
    assert str(error.value) == f"{named}: expected 0 or a whole number of seconds from 2 up, got {value!r}"


def test_an_alias_is_named_as_typed():
    with pytest.raises(ConfigError, match=r"^EC_HOST \(EC_REGISTRATOR_HOST\): .*reserved"):
        load([], {"EC_HOST": "containers"})


def test_the_help_states_the_rules():
    from agent.daemon.settings import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "lease TTL: 0 or a whole number of seconds from 2 up" in text
    assert "a whole number of seconds from 1 up" in text  # EC_REGISTRATOR_DOCKER_TIMEOUT


def test_ascii_numbers_keep_their_forms():
    config = load([], {"EC_REGISTRATOR_TTL": " 45 ", "EC_REGISTRATOR_RESYNC": "007",
                       "EC_REGISTRATOR_ETCD_HOSTS": "a:02379,http://b:65535/", "EC_REGISTRATOR_HTTP_ADDR": "[::1]:0"})
    assert (config.ttl, config.resync) == (45, 7)
    assert config.etcd_endpoints == (Endpoint("http", "a", 2379), Endpoint("http", "b", 65535))
    assert config.http_addr == ("::1", 0)
    assert load(["--ttl", "0"], {}).ttl == 0
    for variable, text in [("EC_REGISTRATOR_ETCD_HOSTS", "a:0"), ("EC_REGISTRATOR_ETCD_HOSTS", "a:65536"),
                           ("EC_REGISTRATOR_HTTP_ADDR", ":65536")]:
        with pytest.raises(ConfigError, match=variable):
            load([], {variable: text})


def test_settings_carry_their_parser():
    fields = {field.name for field in dataclasses.fields(Config)}
    settings = all_settings()
    by_name = {setting.name: setting for setting in settings}
    assert len(settings) == len(by_name) == len({setting.env for setting in settings}) == \
        len({setting.flag for setting in settings})
    assert {setting.name for setting in SETTINGS} - fields == {"etcd_password_file"}  # read into etcd_password
    defaults = load([], {})
    assert set(by_name) - {setting.name for setting in SETTINGS} == set(defaults.layout_settings)
    for setting in settings:
        if setting.default is not None and setting.name != "etcd_endpoints":
            assert setting.parse(setting.default) == defaults.setting_values()[setting.name], setting.name
    # the scheme of an endpoint without one is left to load(): https when TLS files are given
    assert by_name["etcd_endpoints"].parse("h:1") == (Endpoint("", "h", 1),)
    help_text = build_parser().format_help()
    assert all(setting.flag in help_text and setting.env in help_text for setting in settings)
    assert "comma list of layouts: ec, backends" in " ".join(help_text.split())


def test_every_setting_takes_its_flag_over_env_over_alias(tmp_path):
    password = tmp_path / "password"
    password.write_text("from-file\n")
    config = load(["--ttl", "5", "--resync", "6", "--etcd-dir", "f", "--backends-dir", "g", "--host", "h",
                   "--host-ip", "1.1.1.1", "--layouts", "ec,backends", "--etcd-user", "u", "--etcd-password", "p",
                   "--etcd-password-file", str(password), "--http-addr", ":7", "--log-level", "ERROR",
                   "--log-format", "json", "--docker-socket", "/s.sock", "--etcd-hosts", "e:8"],
                  {"EC_REGISTRATOR_TTL": "50", "EC_REGISTRATOR_HOST": "env", "EC_HOST": "alias", "HOST_IP": "2.2.2.2"})
    values = config.setting_values()
    assert (config.ttl, config.resync, config.etcd_dir, values["backends_dir"], config.host, values["host_ip"]) == \
        (5, 6, "/f", "/g", "h", "1.1.1.1")
    assert (config.layouts, config.etcd_user, config.etcd_password) == (("ec", "backends"), "u", "from-file")
    assert (config.http_addr, config.log_level, config.log_format) == (("0.0.0.0", 7), "error", "json")
    assert (config.docker_url, config.etcd_endpoints) == ("unix:///s.sock", (Endpoint("http", "e", 8),))


def test_password_file_wins_and_must_be_readable(tmp_path):
    password = tmp_path / "password"
    password.write_text("s3cret\r\n")
    env = {"EC_REGISTRATOR_ETCD_USER": "u", "EC_REGISTRATOR_ETCD_PASSWORD": "other",
           "EC_REGISTRATOR_ETCD_PASSWORD_FILE": str(password)}
    assert load([], env).etcd_password == "s3cret"
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_ETCD_PASSWORD_FILE: expected a readable file"):
        load([], {**env, "EC_REGISTRATOR_ETCD_PASSWORD_FILE": str(tmp_path / "missing")})


def test_unreadable_tls_file_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    tls = make_tls(tmp_path)
    # as root every file is readable: pretend the CA is not
    monkeypatch.setattr(tlsfiles.os, "access", lambda path, mode, **_: path != str(tls.ca))
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_ETCD_CA: expected a readable file, .* is not readable"):
        load([], {"EC_REGISTRATOR_ETCD_CA": str(tls.ca)})
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_ETCD_KEY: expected a readable file, .* does not exist"):
        load([], {"EC_REGISTRATOR_ETCD_CERT": str(tls.client_cert), "EC_REGISTRATOR_ETCD_KEY": str(tmp_path / "no")})


def test_the_default_socket_falls_back_to_podman_when_docker_has_none():
    from agent.daemon.settings import default_socket

    def only(*paths: str):
        return lambda path: path in paths

    runtime = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    assert default_socket(runtime, only("/var/run/docker.sock", "/run/podman/podman.sock")) == "/var/run/docker.sock"
    assert default_socket(runtime, only("/run/podman/podman.sock")) == "/run/podman/podman.sock"
    assert default_socket(runtime, only("/run/user/1000/podman/podman.sock")) == "/run/user/1000/podman/podman.sock"
    assert default_socket({}, only("/run/user/1000/podman/podman.sock")) == "/var/run/docker.sock"
    assert default_socket(runtime, only()) == "/var/run/docker.sock"  # nothing found: the SPEC's default


def test_a_given_socket_is_used_as_given():
    config = load(["--docker-socket", "/nowhere/docker.sock"], {})
    assert config.docker_url == "unix:///nowhere/docker.sock"
    assert load([], {"EC_REGISTRATOR_DOCKER_SOCKET": "/x.sock"}).docker_url == "unix:///x.sock"
