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
    (event(), None, 5, False, False),  # a key we do not want, put: not under our host's prefixes unless told
    (event(deleted=True, revision=5), "v", 5, False, False),  # already accounted for
    (event(lease=THEIRS, value="other"), "v", 5, True, False),  # shared: another host holds it
    (event(deleted=True), "v", 5, True, True),  # shared and gone
])
def test_is_damage(change, wanted, seen, shared, damaged):
    assert is_damage(change, wanted, OURS, seen, shared) is damaged


@pytest.mark.parametrize(("change", "host_scoped", "damaged"), [
    (event(lease=THEIRS), True, True),  # put under our host's prefixes: a stale key of ours to delete
    (event(deleted=True), True, False),  # gone from there already
    (event(lease=THEIRS), False, False),  # put elsewhere: another host's, or nobody's
    (event(lease=THEIRS, revision=5), True, False),  # already accounted for
])
def test_is_damage_of_a_key_we_do_not_want(change, host_scoped, damaged):
    assert is_damage(change, None, OURS, 5, False, host_scoped) is damaged


def test_held_elsewhere():
    assert held_elsewhere(event(lease=THEIRS), OURS)
    assert not held_elsewhere(event(), OURS)
    assert not held_elsewhere(event(lease=THEIRS, deleted=True), OURS)
