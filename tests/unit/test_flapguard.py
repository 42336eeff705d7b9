"""The flap guard: a key restored too often within the window is left alone until the window passes."""

from agent.core.flapguard import FlapGuard


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_allows_a_few_restores_then_refuses_until_the_window_passes():
    clock = Clock()
    guard = FlapGuard(clock, window=10, max_restores=3)
    assert [guard.allow("/k") for _ in range(4)] == [True, True, True, False]
    assert guard.allow("/other")
    clock.now += 10.5
    assert guard.allow("/k")


def test_forget_old_drops_quiet_keys_only():
    clock = Clock()
    guard = FlapGuard(clock, window=10, max_restores=1)
    guard.allow("/quiet")
    clock.now += 11
    guard.allow("/busy")
    guard.forget_old()
    assert guard.allow("/quiet")
    assert not guard.allow("/busy")


def test_a_restore_exactly_one_window_ago_no_longer_counts():
    clock = Clock()
    guard = FlapGuard(clock, window=10, max_restores=1)
    assert guard.allow("/k")
    clock.now += 10
    assert guard.allow("/k")
    assert not guard.allow("/k")


def test_forget_old_shrinks_the_table_to_keys_restored_inside_the_window():
    clock = Clock()
    guard = FlapGuard(clock, window=10, max_restores=3)
    guard.allow("/old")
    clock.now += 5
    guard.allow("/edge")
    clock.now += 5
    guard.allow("/new")
    guard.allow("/old")  # restored again: still inside the window
    clock.now += 5
    guard.forget_old()  # /edge was restored exactly one window ago
    assert set(guard._restores) == {"/old", "/new"}
    clock.now += 10
    guard.forget_old()
    assert not guard._restores


def test_forget_old_drops_keys_never_allowed():
    guard = FlapGuard(Clock(), window=10, max_restores=0)
    assert not guard.allow("/k")
    guard.forget_old()
    assert not guard._restores
