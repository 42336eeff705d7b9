"""The one retry policy: doubling delays up to a cap, a random spread, reset after a success."""

from agent.retry import Backoff, Policy, spread


def test_delays_double_up_to_the_cap_and_start_again_after_reset():
    slept = []
    retry = Backoff(Policy(first=0.1, most=1.0), sleep=slept.append)
    for _ in range(6):
        retry.wait()
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert retry.failures == 6
    retry.reset()
    assert retry.next_delay() == 0.1 and retry.failures == 1


def test_spread_adds_at_most_its_fraction():
    delays = Policy(first=0.5, most=0.5, spread=0.5).delays()
    values = [next(delays) for _ in range(200)]
    assert all(0.5 <= value <= 1.0 for value in values)
    assert len(set(values)) > 100
    assert all(0 <= spread() <= 0.5 for _ in range(100))
