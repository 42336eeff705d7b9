"""The seeded schedule: the same seed gives the same steps, so a failure replays. Steps name what to do, on
which host and which slot; what a slot holds is decided when the step runs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

OPERATIONS = {"run": 6, "stop": 2, "kill": 2, "rm": 2, "pause": 1, "unpause": 1, "rename": 1, "connect": 1,
              "disconnect": 1, "health": 2, "start": 2}
FAULTS = {"member-kill": 1, "member-freeze": 1, "cluster-down": 0.3, "dockerd-restart": 0.4, "agent-kill9": 1,
          "agent-sigint": 1, "sighup": 1, "sigusr2": 0.7, "foreign-delete": 1, "lease-revoke": 1, "compact": 1}
FAULT_SHARE = 0.25  # of the steps that are not quiet-point checks


@dataclass(frozen=True)
class Step:
    number: int
    kind: str  # an operation, a fault, or "check"
    host: int  # which host (index)
    slot: int  # which container of the host, or which etcd member, or a name's suffix

    def __str__(self) -> str:
        return f"{self.number:4d} {self.kind} host={self.host} slot={self.slot}"


def steps(seed: int, hosts: int) -> Iterator[Step]:
    """The endless schedule of `seed`: operations and faults, with a check every 4 to 9 steps."""
    rng = random.Random(seed)
    number, until_check = 0, rng.randint(4, 9)
    while True:
        number += 1
        until_check -= 1
        if until_check == 0:
            until_check = rng.randint(4, 9)
            yield Step(number, "check", 0, 0)
            continue
        table = FAULTS if rng.random() < FAULT_SHARE else OPERATIONS
        kind = rng.choices(list(table), weights=list(table.values()))[0]
        yield Step(number, kind, rng.randrange(hosts), rng.randrange(1000))
