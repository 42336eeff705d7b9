"""Which containers are registered (SPEC §3: running, not paused, healthy if checked; SPEC §4 ignore)."""

import pytest

from agent.core.container import (
    container_name,
    describe,
    environment,
    has_healthcheck,
    health_status,
    is_registrable,
    service_settings,
    start_order,
)
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


def test_name_loses_only_the_engines_leading_slash():
    assert container_name(inspect("no_ports")) == "no_ports"
    assert container_name({"Id": "abc", "Name": "web"}) == "web"


def test_a_container_without_a_name_is_described_by_its_id_alone():
    assert container_name({"Id": "abc"}) == ""
    assert describe({"Id": "abcdef0123456789", "Name": None}) == " (abcdef012345)"


def test_containers_never_started_sort_first_then_by_id():
    started = inspect("no_ports")
    unstarted = [{"Id": "b", "State": {}}, {"Id": "a"}]
    assert sorted([started, *unstarted], key=start_order) == [unstarted[1], unstarted[0], started]
    assert start_order({"Id": "a"}) == ("", "a")


def test_variable_value_may_contain_equals_signs():
    data = inspect("no_ports")
    data["Config"]["Env"] = ["OPTS=-Da=b -Dc=d", "EMPTY=", "BARE"]
    assert environment(data) == {"OPTS": "-Da=b -Dc=d", "EMPTY": "", "BARE": ""}


@pytest.mark.parametrize("test", [["NONE"], [], None])
def test_no_healthcheck_when_disabled_or_empty(test):
    data = inspect("healthcheck_healthy")
    data["Config"]["Healthcheck"] = {"Test": test}
    assert not has_healthcheck(data)
    assert health_status(data) is None
    assert is_registrable(data)


@pytest.mark.parametrize("test", [["CMD-SHELL", "true"], ["CMD", "/bin/check", "NONE"], ["none"]])
def test_any_other_healthcheck_counts(test):
    data = inspect("no_ports")
    data["Config"]["Healthcheck"] = {"Test": test}
    assert has_healthcheck(data)


def test_healthcheck_without_a_reported_status_is_not_healthy():
    data = inspect("healthcheck_healthy")
    del data["State"]["Health"]
    assert health_status(data) == ""
    assert not is_registrable(data)
