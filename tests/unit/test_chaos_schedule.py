"""The chaos run's seeded schedule (issue 19, item 18): every fault kind is covered by construction, a fault
that did not happen stays to cover, and the same seed with the same outcomes replays the same steps."""

from __future__ import annotations

import itertools

from bench.chaos.schedule import FAULTS, Schedule


def first_steps(seed: int, count: int, skip: frozenset[str] = frozenset()) -> list[tuple[str, int, int]]:
    """The first `count` steps, telling the schedule each step happened unless its kind is in `skip`."""
    schedule = Schedule(seed, 3)
    taken = []
    for step in itertools.islice(schedule, count):
        taken.append((step.kind, step.host, step.slot))
        if step.kind not in skip:
            schedule.happened(step.kind)
    return taken


def test_every_fault_kind_comes_early_whatever_the_seed():
    for seed in range(50):
        kinds = [kind for kind, _, _ in first_steps(seed, 80)]
        assert set(FAULTS) <= set(kinds), seed


def test_a_fault_that_did_not_happen_is_drawn_again():
    kinds = [kind for kind, _, _ in first_steps(7, 200, skip=frozenset({"compact"}))]
    assert kinds.count("compact") >= 3  # drawn again and again while it stays uncovered


def test_the_same_seed_and_outcomes_replay_the_same_steps():
    assert first_steps(11, 120) == first_steps(11, 120)
    assert first_steps(11, 120) != first_steps(12, 120)
