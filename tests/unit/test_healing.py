"""Which watched changes self-healing undoes."""

import pytest

from agent.core.healing import held_elsewhere, is_damage
from agent.core.kv import WatchEvent

OURS, THEIRS = 7, 9


def event(value="v", lease=OURS, revision=10, deleted=False):
    return WatchEvent("/r/k", value, lease, revision, deleted)


@pytest.mark.parametrize(("change", "wanted", "seen", "shared", "damaged"), [
    (event(deleted=True), "v", 5, False, True),
    (event(value="tampered"), "v", 5, False, True),
    (event(lease=THEIRS), "v", 5, False, True),  # our value, but it would vanish with their lease
    (event(), "v", 5, False, False),  # our own write
    (event(deleted=True), None, 5, False, False),  # a key we do not want
    (event(deleted=True, revision=5), "v", 5, False, False),  # already accounted for
    (event(lease=THEIRS, value="other"), "v", 5, True, False),  # shared: another host holds it
    (event(deleted=True), "v", 5, True, True),  # shared and gone
])
def test_is_damage(change, wanted, seen, shared, damaged):
    assert is_damage(change, wanted, OURS, seen, shared) is damaged


def test_held_elsewhere():
    assert held_elsewhere(event(lease=THEIRS), OURS)
    assert not held_elsewhere(event(), OURS)
    assert not held_elsewhere(event(lease=THEIRS, deleted=True), OURS)
