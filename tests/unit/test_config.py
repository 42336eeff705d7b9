"""Configuration: precedence, aliases, defaults and one-line errors (SPEC §2)."""

import pytest

from agent.config import ConfigError, Endpoint, load
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
    assert config.host_ip == "10.0.0.5"
    assert config.backends_dir == "/backends"
    assert config.etcd_endpoints[0] == Endpoint("http", "e", 4001)


@pytest.mark.parametrize(("env", "named"), [
    ({"EC_REGISTRATOR_LAYOUTS": "backends"}, "EC_REGISTRATOR_HOST_IP"),
    ({"EC_REGISTRATOR_LAYOUTS": "ec,backends", "HOST_IP": "1.2.3.4", "EC_REGISTRATOR_BACKENDS_DIR": "registry/b"},
     "EC_REGISTRATOR_BACKENDS_DIR"),
])
def test_backends_errors(env, named):
    with pytest.raises(ConfigError, match=named):
        load([], env)
