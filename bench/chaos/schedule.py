"""The seeded schedule: the same seed gives the same steps, so a failure replays. Steps name what to do, on
which host and which slot; what a slot holds is decided when the step runs.

Until every fault kind has happened once (the runner says which did, `happened`), fault steps come at twice
the share and draw from the kinds still to cover: a short run covers every kind by construction, not by luck.
A fault that did not apply (skipped) stays to cover."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

OPERATIONS = {"run": 6, "stop": 2, "kill": 2, "rm": 2, "pause": 1, "unpause": 1, "rename": 1, "connect": 1,
              "disconnect": 1, "health": 2, "start": 2}
FAULTS = {"member-kill": 1, "member-freeze": 1, "cluster-down": 0.3, "dockerd-restart": 0.4, "dockerd-freeze": 0.6,
          "agent-kill9": 1,
          "agent-sigint": 1, "sighup": 1, "sigusr2": 0.7, "foreign-delete": 1, "lease-revoke": 1, "compact": 1}
FAULT_SHARE = 0.25  # of the steps that are not quiet-point checks
COVER_FAULT_SHARE = 0.5  # while some fault kind has not happened yet


@dataclass(frozen=True)
class Step:
    number: int
    kind: str  # an operation, a fault, or "check"
    host: int  # which host (index)
    slot: int  # which container of the host, or which etcd member, or a name's suffix

    def __str__(self) -> str:
        return f"{self.number:4d} {self.kind} host={self.host} slot={self.slot}"


class Schedule:
    def __init__(self, seed: int, hosts: int) -> None:
        self._rng = random.Random(seed)
        self._hosts = hosts
        self.uncovered = set(FAULTS)  # fault kinds that have not happened yet

    def happened(self, kind: str) -> None:
        self.uncovered.discard(kind)

    def __iter__(self) -> Iterator[Step]:
        """The endless schedule: operations and faults, with a check every 4 to 9 steps."""
        rng = self._rng
        number, until_check = 0, rng.randint(4, 9)
        while True:
            number += 1
            until_check -= 1
            if until_check == 0:
                until_check = rng.randint(4, 9)
                yield Step(number, "check", 0, 0)
                continue
            yield Step(number, self._kind(), rng.randrange(self._hosts), rng.randrange(1000))

    def _kind(self) -> str:
        rng = self._rng
        if rng.random() >= (COVER_FAULT_SHARE if self.uncovered else FAULT_SHARE):
            return rng.choices(list(OPERATIONS), weights=list(OPERATIONS.values()))[0]
        if self.uncovered:
            return rng.choice(sorted(self.uncovered))
        return rng.choices(list(FAULTS), weights=list(FAULTS.values()))[0]
