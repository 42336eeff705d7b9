"""The agent marker: how it is written, and what a stored value is read to declare."""

import json
import os
import re

import pytest

from agent.core.marker import RUNNING, STOPPED, Marker, StoredMarker, new_agent_id

STARTED = "2026-01-01T00:00:00+00:00"


def test_agent_id_is_the_process_id_and_eight_random_hex_digits():
    first, second = new_agent_id(), new_agent_id()
    assert re.fullmatch(rf"{os.getpid()}-[0-9a-f]{{8}}", first)
    assert first != second


def test_encoded_fields_are_sorted_so_the_value_is_canonical():
    marker = Marker("h", 5, RUNNING, STARTED, version="1.2.3", agent="1-ab", keys=("/b/k",))
    assert list(json.loads(marker.encode())) == ["agent", "host", "keys", "lease", "started", "state", "version"]
    assert marker.encode() == json.dumps(json.loads(marker.encode()), sort_keys=True, ensure_ascii=False)


def test_a_marker_without_recorded_keys_has_no_keys_field():
    encoded = json.loads(Marker("h", 5, RUNNING, STARTED).encode())
    assert "keys" not in encoded
    assert json.loads(Marker("h", 5, RUNNING, STARTED, keys=("/b/k",)).encode())["keys"] == ["/b/k"]


def test_the_address_mode_is_written_when_known_and_read_back():
    """SPEC §8's EC_REGISTRATOR_ADDRESS, for `status`: a setting, so the marker still changes only with its state."""
    marker = Marker("h", 5, RUNNING, STARTED, address="container")
    assert json.loads(marker.encode())["address"] == "container"
    assert StoredMarker.decode(marker.encode()).address == "container"
    assert StoredMarker.decode(marker.with_state(STOPPED).encode()).address == "container"
    assert "address" not in json.loads(Marker("h", 5, RUNNING, STARTED).encode())


def test_lease_0_is_written_too():
    assert json.loads(Marker("h", 0, RUNNING, STARTED).encode())["lease"] == 0


def test_a_host_name_beyond_ascii_is_written_as_text():
    encoded = Marker("knoten-ü", 5, RUNNING, STARTED).encode()
    assert '"host": "knoten-ü"' in encoded


def test_decode_reads_back_every_field():
    marker = Marker("h", 5, STOPPED, STARTED, version="1.2.3", agent="12-abcdef01", keys=("/b/1", "/b/2"))
    assert StoredMarker.decode(marker.encode()) == StoredMarker(
        STOPPED, agent="12-abcdef01", keys=("/b/1", "/b/2"), lease=5, started=STARTED, version="1.2.3")


def test_missing_fields_decode_empty():
    assert StoredMarker.decode('{"state": "running"}') == StoredMarker(RUNNING)
    assert StoredMarker.decode(
        '{"state": "running", "agent": null, "started": "", "version": null, "keys": null}') == StoredMarker(RUNNING)


@pytest.mark.parametrize("value", [
    '{"state": "paused", "agent": "x"}',  # not a state of ours
    '{"agent": "x", "keys": []}',  # no state
    '{"state": "running", "keys": "/b/1"}',  # keys not a list
    '{"state": "running", "keys": {"/b/1": 1}}',
    '["running"]',
    "not json",
])
def test_not_a_marker_of_ours(value):
    assert StoredMarker.decode(value) == StoredMarker(None)
