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
