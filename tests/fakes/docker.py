"""`FakeDocker`: the two methods of `agent.adapters.docker_engine.Docker` the writer uses, over recorded
`docker inspect` output (tests/fixtures), with controls to start, stop and remove containers and to make Docker
unreachable."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from agent.adapters.docker_engine import DockerUnavailable
from tests.unit.fixtures import inspect as fixture


def container(name: str, cid: str | None = None, new_name: str | None = None, **labels: str) -> dict[str, Any]:
    """A recorded container, optionally under another id and name, with labels added."""
    data = copy.deepcopy(fixture(name))
    data["Id"] = cid or data["Id"]
    data["Name"] = "/" + new_name if new_name else data["Name"]
    data["Config"]["Labels"] = {**(data["Config"].get("Labels") or {}), **labels}
    return data


class FakeDocker:
    def __init__(self, *fixtures: str) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.available = True
        self.calls: Counter[str] = Counter()
        for name in fixtures:
            self.add(container(name))

    # -- controls ----------------------------------------------------------------------------------------
    def add(self, data: dict[str, Any]) -> str:
        """A container as recorded (usually running); returns its id."""
        self.containers[data["Id"]] = copy.deepcopy(data)
        return str(data["Id"])

    def start(self, cid: str) -> None:
        self.containers[cid]["State"].update(Running=True, Paused=False, Status="running")

    def stop(self, cid: str) -> None:
        self.containers[cid]["State"].update(Running=False, Paused=False, Status="exited")

    def remove(self, cid: str) -> None:
        del self.containers[cid]

    # -- the adapter's methods -------------------------------------------------------------------------
    def running_ids(self) -> list[str]:
        self._call("running_ids")
        return [cid for cid, data in self.containers.items() if data["State"]["Status"] == "running"]

    def inspect(self, cid: str) -> dict[str, Any] | None:
        self._call("inspect")
        data = self.containers.get(cid)
        return copy.deepcopy(data) if data is not None else None

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if not self.available:
            raise DockerUnavailable("fake docker: connection refused")
