"""Escaping, the desired state with shared keys, ownership of stored keys, the marker."""

from dataclasses import dataclass

import pytest

from agent.core.desired import DesiredState
from agent.core.escape import escape_segment, unescape_segment
from agent.core.marker import Marker, StoredMarker
from agent.core.ownership import FOREIGN_LEASE, owned_keys
from agent.layouts.ec import EcLayout


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain", "plain"), ("a/b", "a%2Fb"), ("50%", "50%25"), ("%2F", "%252F"), ("ü/%", "ü%2F%25"), ("", "")])
def test_escape_round_trip(raw, escaped):
    assert escape_segment(raw) == escaped
    assert unescape_segment(escaped) == raw


def test_shared_key_stays_while_one_owner_wants_it():
    state = DesiredState()
    state.replace("a", {"/shared": "1", "/a": "x"})
    state.replace("b", {"/shared": "1"})
    affected = state.replace("a", {})
    assert affected == {"/shared", "/a"}
    assert state.values(affected) == {"/shared": "1"}


@dataclass
class Stored:
    key: str
    value: str
    lease: int


def test_owned_keys_by_lease_by_structure_and_foreign_lease():
    layout = EcLayout("/r", "h")
    stored = [Stored("/r/hosts/h/web", "abc", 0), Stored("/r/containers/abc/host", "h", 7),
              Stored("/r/labels/x/abc", "v", 7), Stored("/r/hosts/other/db", "def", 9),
              Stored("/r/anything", "mine by lease", 7), Stored("/r/agents/h", "{}", 7)]
    owned = owned_keys(stored, [layout], container_ids=(), lease=7, marker_key="/r/agents/h")
    assert owned == {"/r/hosts/h/web": FOREIGN_LEASE, "/r/containers/abc/host": "h", "/r/labels/x/abc": "v",
                     "/r/anything": "mine by lease", "/r/agents/h": "{}"}


def test_marker_states():
    marker = Marker("h", 5, "running", "2026-01-01T00:00:00+00:00")
    assert StoredMarker.decode(marker.encode()).state == "running"
    assert StoredMarker.decode(marker.with_state("stopped").encode()).state == "stopped"
    assert StoredMarker.decode("not json").state is None
    assert '"lease": 9' in marker.with_lease(9).encode()
