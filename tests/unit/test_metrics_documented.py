"""Every metric the agent and `discover` expose is named in the docs (issue 24: `in_sync`,
`discover_etcd_revision` and `discover_build_info` were not): docs/operations.md for the agent, docs/consumers.md
for discover, by their names without the `service_registrator_` prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from agent import metrics as agent_metrics
from agent.daemon.app import Agent
from agent.daemon.settings import load as load_agent
from agent.discover import metrics as discover_metrics
from agent.discover.app import Discover
from agent.discover.settings import load as load_discover
from tests.unit.test_writer import Host

DOCS = Path(__file__).resolve().parents[2] / "docs"
PREFIX = agent_metrics.PREFIX


def family_names(registry: CollectorRegistry) -> set[str]:
    """The names a scrape shows, without the prefix: counters with `_total`, info with `_info`."""
    names = set()
    for family in registry.collect():
        if not family.name.startswith(PREFIX):
            continue  # process_* come with prometheus_client
        suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
        names.add(family.name.removeprefix(PREFIX) + suffix)
    return names


def documented(name: str, text: str) -> bool:
    return f"`{name}" in text or f"`{PREFIX}{name}" in text


def agent_figures() -> set[str]:
    agent = Agent(load_agent([], {"EC_REGISTRATOR_HOST": "h"}))
    return set(agent.status()) | set(Host().writer.status())


def discover_figures(tmp_path: Path) -> set[str]:
    config = load_discover(["--haproxy-config", str(tmp_path / "haproxy.cfg")], {})
    return set(Discover(config).status())


@pytest.mark.parametrize("page", ["operations.md"])
def test_every_agent_metric_is_documented(page):
    text = (DOCS / page).read_text()
    missing = sorted(name for name in family_names(agent_metrics.REGISTRY) | agent_figures()
                     if not documented(name, text))
    assert missing == []


def test_every_discover_metric_is_documented(tmp_path):
    text = (DOCS / "consumers.md").read_text()
    names = {name.removeprefix("discover_") for name in family_names(discover_metrics.REGISTRY)}
    figures = discover_figures(tmp_path)
    missing = sorted(name for name in {f"discover_{name}" for name in names} | figures if not documented(name, text))
    assert missing == []
