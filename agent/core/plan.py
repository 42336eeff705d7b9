"""The pure planner: desired keys against actual keys, into ordered etcd transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

MAX_TXN_OPS = 128
MAX_TXN_BYTES = 1_400_000  # etcd refuses requests over 1.5 MiB; leave room for framing
OP_OVERHEAD_BYTES = 32

Rank = Callable[[str], int]


@dataclass(frozen=True)
class Put:
    key: str
    value: str


@dataclass(frozen=True)
class Delete:
    key: str


Op = Put | Delete


@dataclass(frozen=True)
class Plan:
    """One group's changes (a container, or the agent marker), in write order."""

    puts: tuple[Put, ...] = ()
    deletes: tuple[Delete, ...] = ()
    ops: tuple[Op, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", self.puts + self.deletes)

    def __bool__(self) -> bool:
        return bool(self.ops)


def diff(desired: Mapping[str, str], actual: Mapping[str, object], rank: Rank) -> Plan:
    """Puts for what is missing or different, deletes for what is not desired.

    `actual` values that are not strings (a key held by a foreign lease, say) never equal a desired value,
    so such keys are put again. Own keys are put before index keys and deleted after them.
    """
    puts = [Put(key, value) for key, value in desired.items() if actual.get(key) != value]
    deletes = [Delete(key) for key in actual if key not in desired]
    puts.sort(key=lambda op: rank(op.key))
    deletes.sort(key=lambda op: -rank(op.key))
    return Plan(tuple(puts), tuple(deletes))


def op_size(op: Op) -> int:
    value = op.value if isinstance(op, Put) else ""
    return len(op.key.encode()) + len(value.encode()) + OP_OVERHEAD_BYTES


def fits_one_request(key: str, value: str) -> bool:
    return op_size(Put(key, value)) <= MAX_TXN_BYTES


Txn = tuple[Op, ...]


def transaction_chains(plans: Iterable[Plan], max_ops: int = MAX_TXN_OPS,
                       max_bytes: int = MAX_TXN_BYTES) -> list[list[Txn]]:
    """Pack plans into transactions, keeping each plan whole in one transaction when it fits.

    A plan larger than one transaction is split in its own order; the transactions it spans form a chain
    that must be applied in order. Different chains touch different keys and may be applied concurrently.
    """
    chains: list[list[Txn]] = []
    current: list[Op] = []
    current_bytes = 0
    linked = False  # whether `current` continues a plan begun in the chain's previous transaction

    def flush() -> None:
        if linked:  # set only after a flush, so the chain it continues exists
            chains[-1].append(tuple(current))
        else:
            chains.append([tuple(current)])

    for plan in plans:
        plan_bytes = sum(op_size(op) for op in plan.ops)
        if current and (len(current) + len(plan.ops) > max_ops or current_bytes + plan_bytes > max_bytes):
            flush()
            current, current_bytes, linked = [], 0, False
        for op in plan.ops:
            size = op_size(op)
            if current and (len(current) == max_ops or current_bytes + size > max_bytes):
                flush()
                current, current_bytes, linked = [], 0, True
            current.append(op)
            current_bytes += size
    if current:
        flush()
    return chains
