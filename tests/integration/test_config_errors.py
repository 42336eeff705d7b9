"""Bad configuration: one line naming the variable and the expected form, exit status 2, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.agents import REPO, agent_environment

BAD_SETTINGS = [
    ({"EC_REGISTRATOR_TTL": "soon"}, "EC_REGISTRATOR_TTL"),
    ({"EC_REGISTRATOR_TTL": "1"}, "EC_REGISTRATOR_TTL"),
    ({"EC_REGISTRATOR_ETCD_HOSTS": "localhost"}, "EC_REGISTRATOR_ETCD_HOSTS"),
    ({"EC_ETCD_HOSTS": "http://x:99999"}, "EC_REGISTRATOR_ETCD_HOSTS"),
    ({"EC_REGISTRATOR_HOST": "containers"}, "EC_REGISTRATOR_HOST"),
    ({"EC_HOST": "agents"}, "EC_REGISTRATOR_HOST"),
    ({"EC_REGISTRATOR_LAYOUTS": "ec,zookeeper"}, "EC_REGISTRATOR_LAYOUTS"),
    ({"EC_REGISTRATOR_LAYOUTS": "ec,backends"}, "EC_REGISTRATOR_HOST_IP"),
    ({"EC_REGISTRATOR_LAYOUTS": "backends", "EC_REGISTRATOR_BACKENDS_DIR": "/t/x"}, "EC_REGISTRATOR_HOST_IP"),
    ({"EC_REGISTRATOR_LAYOUTS": "backends,ec", "HOST_IP": "10.0.0.5", "EC_REGISTRATOR_ETCD_DIR": "/t/ec",
      "EC_REGISTRATOR_BACKENDS_DIR": "t"}, "EC_REGISTRATOR_BACKENDS_DIR"),
    ({"EC_REGISTRATOR_BACKENDS_DIR": "a/../b"}, "EC_REGISTRATOR_BACKENDS_DIR"),  # read even when not enabled
    ({"EC_REGISTRATOR_ETCD_CA": "/nonexistent/ca.pem"}, "EC_REGISTRATOR_ETCD_CA"),
    ({"EC_REGISTRATOR_RESYNC": "-5"}, "EC_REGISTRATOR_RESYNC"),
    ({"EC_REGISTRATOR_LOG_LEVEL": "loud"}, "EC_REGISTRATOR_LOG_LEVEL"),
    ({"EC_REGISTRATOR_HTTP_ADDR": "nowhere"}, "EC_REGISTRATOR_HTTP_ADDR"),
    ({"EC_REGISTRATOR_ETCD_DIR": "/"}, "EC_REGISTRATOR_ETCD_DIR"),
    ({"DOCKER_HOST": "ftp://docker"}, "DOCKER_HOST"),
]


@pytest.mark.parametrize(("settings", "named"), BAD_SETTINGS)
def test_bad_value_is_one_line_exit_2_nothing_written(etcd_server, etcd, root, settings, named):
    _assert_refused(etcd_server, etcd, root, settings, named)


# str.isdigit() takes '²' (and int() then refused it with a traceback); it, int() and re's \d take '٣' as 3
@pytest.mark.parametrize(("settings", "named"), [
    ({"EC_REGISTRATOR_TTL": "²"}, "EC_REGISTRATOR_TTL"),
    ({"EC_REGISTRATOR_RESYNC": "٣"}, "EC_REGISTRATOR_RESYNC"),
    ({"EC_REGISTRATOR_ETCD_HOSTS": "localhost:٢٣٧٩"}, "EC_REGISTRATOR_ETCD_HOSTS"),
    ({"EC_REGISTRATOR_HTTP_ADDR": "127.0.0.1:²"}, "EC_REGISTRATOR_HTTP_ADDR"),
], ids=["ttl-superscript-two", "resync-arabic-indic-three", "etcd-port-arabic-indic", "http-port-superscript"])
def test_non_ascii_digits_are_one_line_exit_2_nothing_written(etcd_server, etcd, root, settings, named):
    _assert_refused(etcd_server, etcd, root, settings, named)


def _assert_refused(etcd_server, etcd, root, settings, named):
    env = agent_environment("unix:///nonexistent.sock", etcd_server.url, "bad-host", root)
    for name in settings:  # an alias only counts where the main variable is unset
        env.pop(f"EC_REGISTRATOR_{name.removeprefix('EC_')}", None)
    env.update(settings)
    done = subprocess.run([sys.executable, "-m", "agent"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert named in lines[0] and "expected" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert etcd.items(root + "/") == {}


def test_flag_wins_over_environment(etcd_server, root):
    env = agent_environment("unix:///nonexistent.sock", etcd_server.url, "flag-host", root)
    env["EC_REGISTRATOR_TTL"] = "30"
    done = subprocess.run([sys.executable, "-m", "agent", "--ttl", "x"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert "got 'x'" in done.stderr
