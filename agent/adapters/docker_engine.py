"""The Docker adapter: the only module that imports docker. The agent only reads (GET and events)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import gevent
import requests

from agent.core.container import Inspect

log = logging.getLogger(__name__)

EVENT_FILTERS = {"type": ["container", "network"]}
# Container actions that can change what a container's keys are. Health checks also emit exec_* events
# every interval; those are ignored, the resulting health_status event is what counts. `kill` is ignored
# too: a signal changes nothing by itself, and `die` follows when the container dies (an inspect on `kill`
# during `docker rm -f` waits for Docker's container lock and delays everything queued behind it).
CONTAINER_ACTIONS = frozenset({"start", "die", "stop", "pause", "unpause", "destroy", "remove", "rename",
                               "restart", "update", "oom", "kill"})  # `remove`: Podman's `destroy`
KILL = "kill"  # a signal sent to a container: its stop signal says it is leaving (SPEC §6)
NETWORK_ACTIONS = frozenset({"connect", "disconnect"})
# Actions after which a container is certainly not to be registered: no inspect needed (an inspect during
# `docker rm` waits for Docker's container lock, tens of milliseconds).
STOPPING_ACTIONS = frozenset({"die", "stop", "destroy", "remove", "pause", "oom", "health_status: unhealthy"})


MAX_IN_FLIGHT = 16  # requests (inspects) in flight at once; each keeps its connection
REQUEST_TIMEOUT = 10.0  # seconds a request may take before it is abandoned (EC_REGISTRATOR_DOCKER_TIMEOUT)


class DockerUnavailable(Exception):
    """The daemon cannot be reached or answered with a server error."""


def kill_signal(event: dict[str, Any]) -> str:
    """The signal a `kill` event names (Docker: its number, "15"); "" when it names none (Podman 4.3)."""
    return str(((event.get("Actor") or {}).get("Attributes") or {}).get("signal") or "")


def affected_container(event: dict[str, Any]) -> str | None:
    """The container id whose keys an event may change, or None for events that change nothing."""
    action = str(event.get("Action") or event.get("status") or "")
    actor = event.get("Actor") or {}
    if event.get("Type") == "container" and (action in CONTAINER_ACTIONS or action.startswith("health_status")):
        return actor.get("ID") or event.get("id")
    if event.get("Type") == "network" and action in NETWORK_ACTIONS:
        # Docker: the network in Actor.ID, the container in its attributes; Podman: the container in Actor.ID
        return (actor.get("Attributes") or {}).get("container") or actor.get("ID")
    return None


# The API version each engine answered with, asked once per process: every client and every reconnect would
# ask again (`/version`: 6 ms on Docker, 320 ms on Podman 4.3).
_API_VERSIONS: dict[str, str] = {}


class Docker:
    """Every request is bounded by `timeout`: a Docker that stops answering (frozen, overloaded) costs the caller
    that long at most, then DockerUnavailable. The event stream, silent while nothing happens, is bounded only
    while it opens."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self._timeout = timeout
        try:
            self._api = docker.APIClient(base_url=base_url, version=_API_VERSIONS.get(base_url, "auto"),
                                         timeout=timeout, max_pool_size=MAX_IN_FLIGHT)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise DockerUnavailable(f"Docker at {base_url}: {exc}") from None
        _API_VERSIONS[base_url] = self._api.api_version

    def engine_name(self) -> str:
        return str(self._call(self._api.info)["Name"])

    def running_ids(self) -> list[str]:
        return [item["Id"] for item in self._call(self._api.containers, filters={"status": "running"})]

    def inspect(self, cid: str) -> Inspect | None:
        """The container's inspect dict; None when it no longer exists."""
        try:
            return self._call(self._api.inspect_container, cid)
        except docker.errors.NotFound:
            return None

    def events(self, since: float | None) -> Iterator[dict[str, Any]]:
        """Opens the event stream now (so nothing after this call is missed); iterate to read it."""
        stream = self._call(self._api.events, since=since, filters=EVENT_FILTERS, decode=True)
        return self._read(stream)

    @staticmethod
    def _read(stream: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        try:
            yield from stream
        except (requests.RequestException, docker.errors.APIError, OSError) as exc:
            raise DockerUnavailable(f"event stream: {exc}") from None
        raise DockerUnavailable("event stream ended")

    def close(self) -> None:
        self._api.close()

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """`method` within the timeout: the client's own bounds each socket read, this the whole request (an
        answer that trickles in)."""
        try:
            with gevent.Timeout(self._timeout, DockerUnavailable(f"no answer within {self._timeout:g}s")):
                return method(*args, **kwargs)
        except docker.errors.NotFound:
            raise
        except (requests.RequestException, docker.errors.APIError, OSError) as exc:
            raise DockerUnavailable(str(exc)) from None
