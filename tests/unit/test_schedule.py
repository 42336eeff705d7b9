"""The writer's timed work: periodic comparisons, a repair after damage, retries while out of step."""

from agent.core.schedule import Schedule


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_resync_is_due_at_once_then_every_period():
    clock = Clock()
    schedule = Schedule(60, clock)
    assert schedule.resync_due()
    schedule.resynced()
    assert not schedule.resync_due() and schedule.wait_time() == 60
    clock.now += 60
    assert schedule.resync_due()


def test_no_periodic_resync_when_off():
    schedule = Schedule(0, Clock())
    assert not schedule.resync_due() and schedule.wait_time() is None


def test_a_pending_repair_is_not_postponed_by_more_damage():
    clock = Clock()
    schedule = Schedule(0, clock)
    schedule.heal_in(0.5)
    clock.now += 0.25
    schedule.heal_in(0.5)
    assert schedule.wait_time() == 0.25
    clock.now += 0.25
    assert schedule.heal_due()
    schedule.healed()
    assert not schedule.heal_pending and schedule.wait_time() is None


def test_out_of_step_until_in_step():
    clock = Clock()
    schedule = Schedule(0, clock)
    schedule.retry_in(0.5)
    assert schedule.out_of_step and not schedule.retry_due()
    clock.now += 0.5
    assert schedule.retry_due()
    schedule.in_step()
    assert not schedule.out_of_step and not schedule.retry_due()


def test_an_asked_resync_comes_after_its_delay_even_with_periodic_ones_off():
    clock = Clock()
    schedule = Schedule(0, clock)
    schedule.resync_in(5)
    assert not schedule.resync_due() and schedule.wait_time() == 5
    clock.now += 5
    assert schedule.resync_due()
    schedule.resynced()
    assert not schedule.resync_due() and schedule.wait_time() is None
    clock.now += 1000
    assert not schedule.resync_due()


def test_an_asked_resync_never_postpones_a_sooner_periodic_one():
    clock = Clock()
    schedule = Schedule(60, clock)
    schedule.resynced()
    schedule.resync_in(100)
    assert schedule.wait_time() == 60
    schedule.resync_in(10)
    assert schedule.wait_time() == 10
    clock.now += 10
    assert schedule.resync_due()
    schedule.resynced()
    assert schedule.wait_time() == 60
