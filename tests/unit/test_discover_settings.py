"""`discover`'s settings: flag > variable > default, the agent's etcd connection settings, one-line errors
naming the variable (exit 2), and what running haproxy needs checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import cli
from agent.discover.settings import load
from agent.settings import ConfigError
from tests.support.tls import make_tls


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A usable haproxy (a stand-in executable) and a configuration path under tmp_path."""
    binary = tmp_path / "haproxy"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return {"EC_REGISTRATOR_HAPROXY_BIN": str(binary),
            "EC_REGISTRATOR_HAPROXY_CONFIG": str(tmp_path / "run" / "haproxy.cfg")}


def error(argv: list[str], environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load(argv, environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults(env, tmp_path):
    config = load([], env)
    assert (config.bind, config.debounce, config.http_addr) == ("127.0.0.1", 0.5, ("0.0.0.0", 9480))
    assert (config.command, config.once, config.backends_dir) == ("run", False, "/backends")
    assert [str(e) for e in config.etcd_endpoints] == ["http://localhost:2379"]
    assert config.haproxy_config == str(tmp_path / "run" / "haproxy.cfg")
    assert (tmp_path / "run").is_dir()  # run mode makes the configuration's folder


def test_default_configuration_path_is_absolute():
    config = load(["--once"], {})  # --once writes no file: nothing is created
    assert config.haproxy_config == "/run/service-registrator/haproxy.cfg"


def test_a_relative_configuration_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load(["--once"], {"EC_REGISTRATOR_HAPROXY_CONFIG": "conf/h.cfg"})
    assert config.haproxy_config == str(tmp_path / "conf" / "h.cfg")


def test_flag_beats_variable_beats_default(env):
    env = {**env, "EC_REGISTRATOR_DISCOVER_DEBOUNCE": "2", "EC_REGISTRATOR_DISCOVER_BIND": "0.0.0.0"}
    assert (load([], env).debounce, load([], env).bind) == (2.0, "0.0.0.0")
    flagged = load(["--debounce", "0", "--bind", "::", "--backends-dir", "/b/"], env)
    assert (flagged.debounce, flagged.bind, flagged.backends_dir) == (0.0, "::", "/b")


def test_etcd_hosts_and_their_seed_alias(env):
    assert [str(e) for e in load([], {**env, "ETCD_HOST": "e1:2379"}).etcd_endpoints] == ["http://e1:2379"]
    both = {**env, "ETCD_HOST": "e1:2379", "EC_REGISTRATOR_ETCD_HOSTS": "e2:2379,https://e3:2380"}
    assert [str(e) for e in load([], both).etcd_endpoints] == ["http://e2:2379", "https://e3:2380"]


def test_a_tls_file_implies_https(env, tmp_path):
    tls = make_tls(tmp_path / "tls")
    config = load([], {**env, "EC_REGISTRATOR_ETCD_CA": str(tls.ca)})
    assert [e.scheme for e in config.etcd_endpoints] == ["https"]


def test_a_password_needs_a_user(env):
    assert error([], {**env, "EC_REGISTRATOR_ETCD_PASSWORD": "s3cret"}).startswith("EC_REGISTRATOR_ETCD_USER:")
    config = load([], {**env, "EC_REGISTRATOR_ETCD_PASSWORD": "s3cret", "EC_REGISTRATOR_ETCD_USER": "root"})
    assert config.etcd_password == "s3cret" and "s3cret" not in repr(config)


@pytest.mark.parametrize(("variable", "text"), [
    ("EC_REGISTRATOR_DISCOVER_DEBOUNCE", "soon"),
    ("EC_REGISTRATOR_DISCOVER_DEBOUNCE", "-1"),
    ("EC_REGISTRATOR_DISCOVER_DEBOUNCE", "61"),
    ("EC_REGISTRATOR_DISCOVER_DEBOUNCE", "٣"),
    ("EC_REGISTRATOR_DISCOVER_DEBOUNCE", "1e3"),
    ("EC_REGISTRATOR_DISCOVER_DEBOUNCE", ""),
    ("EC_REGISTRATOR_DISCOVER_BIND", "localhost"),
    ("EC_REGISTRATOR_DISCOVER_BIND", "999.1.1.1"),
    ("EC_REGISTRATOR_DISCOVER_BIND", ""),
    ("EC_REGISTRATOR_DISCOVER_BIND", "fe80::1%eth0"),  # a zone: haproxy's bind would take free text
    ("EC_REGISTRATOR_DISCOVER_HTTP_ADDR", "0.0.0.0:x"),
    ("EC_REGISTRATOR_HAPROXY_CONFIG", "/run/folder/"),
    ("EC_REGISTRATOR_HAPROXY_CONFIG", " "),
    ("EC_REGISTRATOR_HAPROXY_BIN", " "),
    ("EC_REGISTRATOR_BACKENDS_DIR", "/"),
])
def test_errors_name_the_variable_in_one_line(env, variable, text):
    assert error([], {**env, variable: text}).startswith(variable + ": ")


def test_debounce_limits_and_forms(env):
    assert [load(["--debounce", text], env).debounce for text in ("0", "60", " 1.25 ")] == [0.0, 60.0, 1.25]


def test_bind_in_brackets_is_the_plain_address(env):
    assert load(["--bind", "[::1]"], env).bind == "::1"


def test_an_empty_http_address_turns_the_endpoint_off(env):
    assert load(["--http-addr", ""], env).http_addr is None
    assert load([], {**env, "EC_REGISTRATOR_DISCOVER_HTTP_ADDR": "[::1]:9000"}).http_addr == ("::1", 9000)


@pytest.mark.parametrize("binary", ["/nonexistent/haproxy", "no-such-haproxy-here"])
def test_running_needs_the_haproxy_executable(env, binary):
    message = error([], {**env, "EC_REGISTRATOR_HAPROXY_BIN": binary})
    assert message.startswith("EC_REGISTRATOR_HAPROXY_BIN: ") and binary in message
    assert error(["check"], {**env, "EC_REGISTRATOR_HAPROXY_BIN": binary}).startswith("EC_REGISTRATOR_HAPROXY_BIN")


def test_running_needs_a_folder_for_the_configuration(env, tmp_path):
    (tmp_path / "file").write_text("")
    message = error([], {**env, "EC_REGISTRATOR_HAPROXY_CONFIG": str(tmp_path / "file" / "sub" / "haproxy.cfg")})
    assert message.startswith("EC_REGISTRATOR_HAPROXY_CONFIG: cannot create ")


def test_the_configuration_path_must_not_be_a_folder(env, tmp_path):
    message = error([], {**env, "EC_REGISTRATOR_HAPROXY_CONFIG": str(tmp_path)})
    assert message.startswith("EC_REGISTRATOR_HAPROXY_CONFIG: expected a file path")


def test_once_needs_no_haproxy_and_creates_nothing(tmp_path):
    config = load(["--once"], {"EC_REGISTRATOR_HAPROXY_BIN": "/nonexistent/haproxy",
                               "EC_REGISTRATOR_HAPROXY_CONFIG": str(tmp_path / "run" / "haproxy.cfg")})
    assert config.once and config.command == "run"
    assert not (tmp_path / "run").exists()


def test_the_check_command(env):
    assert load(["check"], env).command == "check"
    with pytest.raises(SystemExit):
        load(["bogus"], env)


def test_the_cli_says_a_bad_setting_in_one_line_and_exits_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("EC_REGISTRATOR_HAPROXY_CONFIG", str(tmp_path / "run" / "haproxy.cfg"))
    assert cli.main(["discover", "--debounce", "soon"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("service-registrator discover: --debounce (EC_REGISTRATOR_DISCOVER_DEBOUNCE): ")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("path", "expected"), [
    ("/run/a,b/haproxy.cfg", "expected a path without a comma"),
    ("/run/" + "x" * 84 + ".cfg", "expected a path of at most 92 bytes"),  # socket path of 98 bytes
    ("/run/my configs/haproxy.cfg", "expected a path without spaces"),  # the listeners' socket is one word of it
    ("/run/$HOME/haproxy.cfg", "expected a path without spaces"),
    ("/run/#1/haproxy.cfg", "expected a path without spaces"),
])
def test_a_configuration_path_haproxy_cannot_use_is_a_setting_error(path, expected):
    """Defect: these passed `check` and failed at start with exit 1 (measured with haproxy 2.6: a master socket
    path of 97 bytes binds, 98 does not; -S splits at a comma)."""
    with pytest.raises(ConfigError, match=rf"^--haproxy-config \(EC_REGISTRATOR_HAPROXY_CONFIG\): {expected}"):
        load(["--once", "--haproxy-config", path], {})
    assert load(["--once", "--haproxy-config", "/run/" + "x" * 83 + ".cfg"], {})  # socket path of 97 bytes
