"""Which containers are registered (SPEC §3: running, not paused, healthy if checked; SPEC §4 ignore)."""

import pytest

from agent.core.container import describe, is_registrable, service_settings
from tests.unit.fixtures import inspect


@pytest.mark.parametrize(("name", "registrable"), [
    ("no_ports", True),
    ("paused", False),
    ("healthcheck_starting", False),
    ("healthcheck_healthy", True),
    ("healthcheck_unhealthy", False),
    ("service_ignored", False),
])
def test_registrable(name, registrable):
    assert is_registrable(inspect(name)) is registrable


def test_stopped_container_is_not_registrable():
    data = inspect("no_ports")
    data["State"] = {**data["State"], "Running": False, "Status": "exited"}
    assert not is_registrable(data)


def test_label_wins_over_environment():
    data = inspect("service_ignored")
    data["Config"]["Labels"] = {"SERVICE_IGNORE": "false"}
    assert service_settings(data)["SERVICE_IGNORE"] == "false"
    assert is_registrable(data)


def test_describe_names_container_and_short_id():
    data = inspect("no_ports")
    assert describe(data) == f"no_ports ({data['Id'][:12]})"
