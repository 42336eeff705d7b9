"""The agent marker `P/agents/H`: who holds this host, on which lease, and whether it is running."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field, replace

from agent import __version__
from agent.core.escape import escape_segment

RUNNING, STOPPED = "running", "stopped"
LEASE_IDS = range(0, 2**63)  # etcd's lease ids are int64; 0: none (TTL 0)
MARKERS = "agents"  # the ec root's folder of markers: P/agents/H


def new_agent_id() -> str:
    """Tells two agent processes of one host apart (the lease does not: a successor adopts it)."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Marker:
    host: str
    lease: int
    state: str
    started: str
    version: str = __version__
    agent: str = field(default_factory=new_agent_id)
    keys: tuple[str, ...] = ()  # TTL 0: keys of this host that no host index finds again (SPEC §4 own keys)
    address: str = ""  # EC_REGISTRATOR_ADDRESS (SPEC §8), a setting: it never changes while the agent runs

    def encode(self) -> str:
        fields = {"host": self.host, "lease": self.lease, "state": self.state, "started": self.started,
                  "version": self.version, "agent": self.agent, "keys": list(self.keys), "address": self.address}
        return json.dumps({name: value for name, value in fields.items() if value or name == "lease"}, sort_keys=True,
                          ensure_ascii=False)

    def with_state(self, state: str) -> Marker:
        return replace(self, state=state)

    def with_lease(self, lease: int) -> Marker:
        return replace(self, lease=lease)

    def with_keys(self, keys: tuple[str, ...]) -> Marker:
        return replace(self, keys=keys)


@dataclass(frozen=True)
class StoredMarker:
    """What a marker read from etcd declares; fields are empty when the value is not a marker of ours (`lease`
    is None also when its lease field is not a lease id etcd can have: a whole number from 0 below 2^63)."""

    state: str | None
    agent: str = ""
    keys: tuple[str, ...] = ()
    lease: int | None = None
    started: str = ""
    version: str = ""
    address: str = ""

    @classmethod
    def decode(cls, value: str) -> StoredMarker:
        try:
            fields = json.loads(value)
            state, agent, keys = fields.get("state"), str(fields.get("agent") or ""), fields.get("keys") or []
        except (ValueError, AttributeError):
            return cls(None)
        if state not in (RUNNING, STOPPED) or not isinstance(keys, list):
            return cls(None)
        lease = fields.get("lease")
        whole = isinstance(lease, int) and not isinstance(lease, bool) and lease in LEASE_IDS
        return cls(state, agent, tuple(str(key) for key in keys), lease if whole else None,
                   str(fields.get("started") or ""), str(fields.get("version") or ""), str(fields.get("address") or ""))


def marker_key(ec_root: str, host: str) -> str:
    return segment_marker_key(ec_root, escape_segment(host))


def segment_marker_key(ec_root: str, segment: str) -> str:
    """The marker key of a host whose name is given as stored (escaped)."""
    return f"{ec_root}/{MARKERS}/{segment}"
