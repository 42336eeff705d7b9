"""Reconnecting keeps nothing behind: the event follower closes the Docker client of a lost stream, and a
renewed etcd token replaces the header in place (requests in flight keep a valid one)."""

from __future__ import annotations

import gevent
import pytest

from agent.adapters import etcd as etcd_module
from agent.adapters.docker_engine import DockerUnavailable
from agent.adapters.etcd import Etcd
from agent.adapters.etcd_connection import Credentials, Members
from agent.daemon.events import EventFollower
from agent.retry import Policy
from agent.settings import Endpoint


class Client:
    """A Docker client whose event stream breaks after one event."""

    def __init__(self, made: list[Client]) -> None:
        self.closed = False
        made.append(self)

    def events(self, since: float | None):
        yield {"Type": "container", "Action": "start", "Actor": {"ID": "c" * 64}, "timeNano": 1}
        raise DockerUnavailable("stream ended")

    def close(self) -> None:
        self.closed = True


def test_a_lost_event_stream_closes_its_client(monkeypatch):
    made: list[Client] = []
    monkeypatch.setattr("agent.daemon.events.DOCKER_STREAM", Policy(first=0.001, most=0.001))
    follower = EventFollower(lambda: Client(made), lambda command: None)
    follower.open()
    runner = gevent.spawn(follower.run)
    gevent.sleep(0.05)
    runner.kill()
    assert len(made) >= 3
    assert all(client.closed for client in made[:-1]) and not made[-1].closed


class Session:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {"Authorization": "old-token"}


class GatewayClient:
    def __init__(self, seen: list[str | None]) -> None:
        self.session = Session()
        self._seen = seen

    def get_url(self, path: str) -> str:
        return path

    def post(self, url: str, json: dict, headers: dict | None = None) -> dict:
        self._seen.append(self.session.headers.get("Authorization"))
        assert url == "auth/authenticate" and headers == {"Authorization": None}
        return {"token": "new-token"}


@pytest.mark.parametrize("clients", [1, 3])
def test_token_renewal_never_leaves_a_client_without_a_header(clients):
    endpoints = [Endpoint("http", "127.0.0.1", 2379 + number) for number in range(clients)]
    client = Etcd(Members(endpoints), None, 1.0, Credentials("agent", "secret"))
    seen: list[str | None] = []
    client._clients = {endpoint: GatewayClient(seen) for endpoint in endpoints}
    client.authenticate()
    assert seen == ["old-token"]  # while the new token was being asked for, the old header stayed
    assert {gateway.session.headers["Authorization"] for gateway in client._clients.values()} == {"new-token"}
    assert etcd_module.MAX_IN_FLIGHT >= 16


class HealthClient:
    """A Podman event stream: a health_status event without a verdict, then a Docker one with its verdict."""

    def events(self, since: float | None):
        yield {"Type": "container", "Action": "health_status", "Actor": {"ID": "p" * 64}, "timeNano": 1}
        yield {"Type": "container", "Action": "health_status: unhealthy", "Actor": {"ID": "d" * 64}, "timeNano": 2}
        raise DockerUnavailable("stream ended")

    def close(self) -> None:
        pass


def test_a_health_event_without_a_verdict_is_looked_at_again_later():
    """Podman 4.3 may send its health_status before the result is in the container's state: the container is
    inspected again HEALTH_SETTLE seconds later. Docker's events carry the verdict and need no second look."""
    from agent.core.messages import ContainerChanged
    from agent.daemon.events import HEALTH_SETTLE

    submitted: list = []
    scheduled: list = []
    follower = EventFollower(HealthClient, submitted.append, later=lambda *call: scheduled.append(call))
    follower.open()
    with pytest.raises(DockerUnavailable):
        follower._follow(follower._stream)
    podman = ContainerChanged("p" * 64, "health_status")
    assert submitted == [podman, ContainerChanged("d" * 64, "health_status: unhealthy")]
    assert scheduled == [(HEALTH_SETTLE, submitted.append, podman)]
