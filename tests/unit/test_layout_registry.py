"""The layout registry: each layout module declares its name, settings, factory and check once (its `LAYOUT`);
the agent's settings and `build_layouts` read agent/layouts/registry.py and nothing else."""

import dataclasses
import subprocess
import sys
from functools import partial

import pytest

from agent.daemon.settings import SETTINGS, Config, all_settings, build_parser, load
from agent.layouts import LayoutKind, registry
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout
from agent.layouts.registry import build_layouts
from agent.layouts.traefik_rule import DEFAULT_RULE, parse_rule
from agent.settings import ConfigError, Setting, optional, root_dir
from tests.support.agents import REPO

BACKENDS = {"EC_REGISTRATOR_LAYOUTS": "ec,backends", "EC_REGISTRATOR_HOST_IP": "10.0.0.5"}


def test_registry_is_consistent():
    names = [kind.name for kind in registry.LAYOUTS]
    assert names == ["ec", "backends", "traefik"] and len(set(names)) == len(names)
    settings = all_settings()
    spellings = [spelling for setting in settings for spelling in (setting.env, setting.flag, *setting.aliases)]
    assert len(spellings) == len(set(spellings))
    assert all(kind.root_setting in {setting.name for setting in settings} for kind in registry.LAYOUTS)
    fields = {field.name for field in dataclasses.fields(Config)}
    assert not fields & {setting.name for setting in registry.layout_settings()}


def test_layout_settings_stay_readable_as_before():
    config = load([], BACKENDS)
    assert config.layout_settings == {"backends_dir": "/backends", "host_ip": "10.0.0.5", "traefik_root": "traefik",
                                      "traefik_exposed_by_default": False,
                                      "traefik_default_rule": parse_rule("rule", DEFAULT_RULE),
                                      "explicit": False, "address": "published"}
    values = config.setting_values()
    assert (values["etcd_dir"], values["backends_dir"], values["host_ip"]) == ("/registry", "/backends", "10.0.0.5")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = config.nope
    assert load([], {}) == load([], {}) and hash(load([], {})) == hash(load([], {}))


def test_build_layouts_in_the_order_configured():
    config = load([], {**BACKENDS, "EC_REGISTRATOR_LAYOUTS": "backends,ec", "EC_REGISTRATOR_BACKENDS_DIR": "b"})
    backends, ec = build_layouts(config.setting_values(), "node")
    assert isinstance(backends, BackendsLayout) and (backends.root, backends.host_ip) == ("/b", "10.0.0.5")
    assert isinstance(ec, EcLayout) and (ec.root, ec.host) == ("/registry", "node")
    assert [layout.name for layout in build_layouts(load([], {}).setting_values(), "node")] == ["ec"]


def test_backends_checks_keep_their_messages():
    with pytest.raises(ConfigError) as error:
        load([], {"EC_REGISTRATOR_LAYOUTS": "backends"})
    # issue 24: it says which enabled layout requires it
    assert str(error.value) == ("EC_REGISTRATOR_HOST_IP: required by EC_REGISTRATOR_LAYOUTS=backends: expected the "
                                "address published for ports bound to all interfaces and for host-network "
                                "containers, e.g. 10.0.0.5 (alias HOST_IP)")
    for order in ("ec,backends", "backends,ec"):  # the backends root is named whatever the order
        with pytest.raises(ConfigError) as error:
            load([], {**BACKENDS, "EC_REGISTRATOR_LAYOUTS": order, "EC_REGISTRATOR_ETCD_DIR": "b/ec",
                      "EC_REGISTRATOR_BACKENDS_DIR": "b"})
        assert str(error.value) == ("EC_REGISTRATOR_BACKENDS_DIR: expected a root apart from "
                                    "EC_REGISTRATOR_ETCD_DIR, got '/b' and '/b/ec'")
    # a lone layout's root may sit anywhere; a disabled layout's settings are still read (and checked)
    assert load([], {"EC_REGISTRATOR_BACKENDS_DIR": "registry/b"}).layout_settings["backends_dir"] == "/registry/b"
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_BACKENDS_DIR: expected a directory name"):
        load([], {"EC_REGISTRATOR_BACKENDS_DIR": "/"})


class Flat:
    name = "flat"

    def __init__(self, root: str, host: str) -> None:
        self.root, self.host = root, host


def check_mode(values) -> None:
    if not values["flat_mode"]:
        raise ConfigError("EC_REGISTRATOR_FLAT_MODE: expected a mode when the flat layout is enabled")


FLAT = LayoutKind(
    name="flat",
    root_setting="flat_dir",
    make=lambda values, host: Flat(values["flat_dir"], host),
    settings=(
        Setting("flat_dir", "--flat-dir", "EC_REGISTRATOR_FLAT_DIR", "flat", "root of the flat layout",
                partial(root_dir, "EC_REGISTRATOR_FLAT_DIR"), ("FLAT_DIR",)),
        Setting("flat_mode", "--flat-mode", "EC_REGISTRATOR_FLAT_MODE", None, "mode of the flat layout", optional),
    ),
    check=check_mode,
)


@pytest.fixture
def another_layout(monkeypatch):
    """Another layout, added the documented way: its LAYOUT and one more entry in the registry."""
    monkeypatch.setattr(registry, "LAYOUTS", (*registry.LAYOUTS, FLAT))


@pytest.mark.usefixtures("another_layout")
def test_a_another_layout_needs_only_its_module_and_a_registry_entry():
    env = {"EC_REGISTRATOR_LAYOUTS": "flat,ec", "EC_REGISTRATOR_FLAT_MODE": "m"}
    config = load([], env)
    layout_settings = config.layout_settings
    assert (config.layouts, layout_settings["flat_dir"], layout_settings["flat_mode"]) == (("flat", "ec"), "/flat", "m")
    flat, ec = build_layouts(config.setting_values(), "node")
    assert isinstance(flat, Flat) and (flat.root, flat.host) == ("/flat", "node") and isinstance(ec, EcLayout)
    # flag > environment > alias > default, as for every setting
    spelled = {"EC_REGISTRATOR_FLAT_DIR": "env", "FLAT_DIR": "alias"}
    assert load(["--flat-dir", "flag"], {**env, **spelled}).layout_settings["flat_dir"] == "/flag"
    assert load([], {**env, **spelled}).layout_settings["flat_dir"] == "/env"
    assert load([], {**env, "FLAT_DIR": "alias"}).layout_settings["flat_dir"] == "/alias"
    help_text = " ".join(build_parser().format_help().split())
    assert "--flat-dir VALUE root of the flat layout [env EC_REGISTRATOR_FLAT_DIR, FLAT_DIR; default flat]" in help_text
    assert "comma list of layouts: ec, backends, traefik, flat" in help_text
    assert {setting.name for setting in all_settings()} == {setting.name for setting in SETTINGS} | \
        {"backends_dir", "host_ip", "traefik_root", "traefik_exposed_by_default", "traefik_default_rule", "flat_dir",
         "flat_mode", "explicit", "address"}


@pytest.mark.usefixtures("another_layout")
def test_another_layouts_checks_run_when_it_is_enabled():
    expected = "^EC_REGISTRATOR_LAYOUTS: expected a comma list of ec, backends, traefik, flat,"
    with pytest.raises(ConfigError, match=expected):
        load([], {"EC_REGISTRATOR_LAYOUTS": "zoo"})
    with pytest.raises(ConfigError, match="^EC_REGISTRATOR_FLAT_MODE: expected a mode"):
        load([], {"EC_REGISTRATOR_LAYOUTS": "flat"})
    assert load([], {}).layout_settings["flat_mode"] is None  # not enabled: not checked
    with pytest.raises(ConfigError) as error:
        load([], {"EC_REGISTRATOR_LAYOUTS": "flat,ec", "EC_REGISTRATOR_FLAT_MODE": "m", "FLAT_DIR": "registry/f"})
    assert str(error.value) == ("EC_REGISTRATOR_FLAT_DIR: expected a root apart from EC_REGISTRATOR_ETCD_DIR, "
                                "got '/registry/f' and '/registry'")


@pytest.mark.parametrize("module", ["agent.settings", "agent.daemon.settings", "agent.layouts", "agent.layouts.ec",
                                    "agent.layouts.backends", "agent.layouts.registry", "agent.layouts.selection",
                                    "agent.cli"])
def test_no_import_cycle_whichever_module_comes_first(module):
    code = f"import {module}\nfrom agent.daemon.settings import load\nload([], {{'EC_REGISTRATOR_LAYOUTS': " \
           "'backends', 'HOST_IP': '1.2.3.4'}).layout_settings['backends_dir']"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
