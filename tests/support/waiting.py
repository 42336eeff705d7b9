"""Bounded waiting: every wait in the tests ends, with the last value seen in the failure message."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last value: {last!r}")
        time.sleep(interval)
        last = probe()
    return last


def wait_equal(probe: Callable[[], T], expected: T, timeout: float = 10.0, what: str = "") -> None:
    """Wait until probe() == expected; on timeout, assert equality so pytest shows the difference."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: {difference(value, expected)}")
        time.sleep(0.05)


def difference(value: object, expected: object) -> str:
    if not (isinstance(value, dict) and isinstance(expected, dict)):
        return f"{value!r} != {expected!r}"
    missing = {key: expected[key] for key in expected.keys() - value.keys()}
    extra = {key: value[key] for key in value.keys() - expected.keys()}
    wrong = {key: (value[key], expected[key]) for key in value.keys() & expected.keys() if value[key] != expected[key]}
    return f"missing {missing}, extra {extra}, different (got, expected) {wrong}"
