"""Which Docker events make the agent look at a container again."""

import pytest

from agent.adapters.docker_engine import STOPPING_ACTIONS, affected_container, kill_signal

CID = "c" * 64


def container_event(action: str) -> dict:
    return {"Type": "container", "Action": action, "Actor": {"ID": CID, "Attributes": {"name": "web"}}}


@pytest.mark.parametrize("action", ["start", "die", "stop", "pause", "unpause", "destroy", "rename", "kill",
                                    "health_status: healthy", "health_status: unhealthy"])
def test_relevant_container_actions(action):
    assert affected_container(container_event(action)) == CID


@pytest.mark.parametrize("action", ["create", "exec_create: sh", "exec_start: sh", "exec_die", "attach"])
def test_actions_that_change_nothing_are_ignored(action):
    assert affected_container(container_event(action)) is None


def test_network_connect_names_the_container():
    event = {"Type": "network", "Action": "connect", "Actor": {"ID": "n" * 64, "Attributes": {"container": CID}}}
    assert affected_container(event) == CID


def test_stopping_actions_need_no_inspect():
    assert {"die", "destroy", "pause", "health_status: unhealthy"} <= STOPPING_ACTIONS
    assert "start" not in STOPPING_ACTIONS and "health_status: healthy" not in STOPPING_ACTIONS


@pytest.mark.parametrize("action", ["connect", "disconnect"])
def test_docker_network_event_names_the_container_not_the_network(action):
    """Docker's form (unlike Podman's): the network in Actor.ID, its name in Attributes.name."""
    event = {"Type": "network", "Action": action, "status": action, "id": "n" * 64, "scope": "local",
             "Actor": {"ID": "n" * 64, "Attributes": {"container": CID, "name": "bridge", "type": "bridge"}}}
    assert affected_container(event) == CID


@pytest.mark.parametrize("action", ["create", "destroy", "remove"])
def test_network_lifecycle_events_change_nothing(action):
    event = {"Type": "network", "Action": action, "Actor": {"ID": "n" * 64, "Attributes": {"name": "net"}}}
    assert affected_container(event) is None


def test_a_kill_event_names_its_signal_and_podmans_names_none():
    docker_kill = {"Type": "container", "Action": "kill", "Actor": {"ID": CID, "Attributes": {"signal": "15"}}}
    podman_kill = {"Type": "container", "Action": "kill", "Actor": {"ID": CID, "Attributes": {"name": "web"}}}
    assert (kill_signal(docker_kill), kill_signal(podman_kill)) == ("15", "")
