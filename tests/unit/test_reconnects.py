"""Reconnecting keeps nothing behind: the event follower closes the Docker client of a lost stream, and a
renewed etcd token replaces the header in place (requests in flight keep a valid one)."""

from __future__ import annotations

import gevent
import pytest

from agent import etcd as etcd_module
from agent.config import Endpoint
from agent.docker_api import DockerUnavailable
from agent.etcd import Credentials, Etcd, Members
from agent.events import EventFollower
from agent.retry import Policy


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
    monkeypatch.setattr("agent.events.DOCKER_STREAM", Policy(first=0.001, most=0.001))
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
