"""The agent marker `P/agents/H`: who holds this host, on which lease, and whether it is running."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from agent import __version__
from agent.escape import escape_segment

RUNNING, STOPPED = "running", "stopped"


@dataclass(frozen=True)
class Marker:
    host: str
    lease: int
    state: str
    started: str
    version: str = __version__

    def encode(self) -> str:
        return json.dumps({"host": self.host, "lease": self.lease, "state": self.state,
                           "started": self.started, "version": self.version}, sort_keys=True)

    def with_state(self, state: str) -> Marker:
        return replace(self, state=state)

    def with_lease(self, lease: int) -> Marker:
        return replace(self, lease=lease)


def marker_key(ec_root: str, host: str) -> str:
    return f"{ec_root}/agents/{escape_segment(host)}"


def marker_state(value: str) -> str | None:
    """The state a stored marker declares; None when the value is not a marker of ours."""
    try:
        state = json.loads(value).get("state")
    except (ValueError, AttributeError):
        return None
    return state if state in (RUNNING, STOPPED) else None
