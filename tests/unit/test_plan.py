"""The pure planner: what to put and delete, in which order, in how many transactions."""

from agent.core.ownership import FOREIGN_LEASE
from agent.core.plan import (
    MAX_TXN_BYTES,
    MAX_TXN_OPS,
    OP_OVERHEAD_BYTES,
    Delete,
    Plan,
    Put,
    diff,
    fits_one_request,
    op_size,
    transaction_chains,
)


def rank(key: str) -> int:
    return 0 if key.startswith("/r/containers/") else 1


def test_nothing_unchanged_is_rewritten():
    same = {"/r/containers/a/id": "a", "/r/hosts/h/n": "a"}
    assert not diff(same, dict(same), rank)


def test_puts_missing_and_changed_deletes_stale():
    plan = diff({"/r/containers/a/id": "a", "/r/containers/a/name": "new"},
                {"/r/containers/a/name": "old", "/r/hosts/h/old": "a"}, rank)
    assert plan.puts == (Put("/r/containers/a/id", "a"), Put("/r/containers/a/name", "new"))
    assert plan.deletes == (Delete("/r/hosts/h/old"),)


def test_own_keys_put_first_and_deleted_last():
    keys = {"/r/hosts/h/n": "a", "/r/containers/a/id": "a", "/r/labels/l/a": "v"}
    assert [op.key for op in diff(keys, {}, rank).puts][0] == "/r/containers/a/id"
    assert [op.key for op in diff({}, keys, rank).deletes][-1] == "/r/containers/a/id"


def test_key_on_foreign_lease_is_put_again():
    plan = diff({"/r/containers/a/id": "a"}, {"/r/containers/a/id": FOREIGN_LEASE}, rank)
    assert plan.puts == (Put("/r/containers/a/id", "a"),)


def plan_of(count: int, prefix: str) -> Plan:
    return Plan(tuple(Put(f"{prefix}/{n}", "v") for n in range(count)))


def sizes(chains):
    return [[len(txn) for txn in chain] for chain in chains]


def test_small_plans_share_a_transaction_but_are_never_split_when_they_fit():
    chains = transaction_chains([plan_of(60, "/a"), plan_of(60, "/b"), plan_of(60, "/c")])
    assert sizes(chains) == [[120], [60]]


def test_a_plan_over_128_ops_is_one_chain_split_in_order():
    plan = plan_of(300, "/big")
    chains = transaction_chains([plan_of(10, "/small"), plan, plan_of(10, "/after")])
    assert sizes(chains) == [[10], [MAX_TXN_OPS, MAX_TXN_OPS, 300 - 2 * MAX_TXN_OPS + 10]]
    assert [op for txn in chains[1] for op in txn][:300] == list(plan.ops)


def test_transactions_respect_the_byte_limit():
    big = Plan(tuple(Put(f"/k/{n}", "x" * 500_000) for n in range(5)))
    chains = transaction_chains([big])
    assert len(chains) == 1
    assert all(sum(len(op.value) for op in txn) <= 1_400_000 for txn in chains[0])
    assert sum(len(txn) for txn in chains[0]) == 5


def test_a_put_fits_one_request_up_to_the_byte_limit_overhead_included():
    key = "/r/containers/a/big"
    room = MAX_TXN_BYTES - OP_OVERHEAD_BYTES - len(key)
    assert fits_one_request(key, "x" * room)
    assert not fits_one_request(key, "x" * (room + 1))
    assert not fits_one_request(key, "é" * (room // 2 + 1))  # counted in bytes, not characters


def test_a_delete_counts_its_key_and_the_per_op_overhead_only():
    deletes = Plan(deletes=(Delete("/k/a"), Delete("/k/b")))
    assert op_size(Delete("/k/a")) == op_size(Put("/k/a", "")) == len("/k/a") + OP_OVERHEAD_BYTES
    assert sizes(transaction_chains([deletes], max_bytes=2 * op_size(Delete("/k/a")))) == [[2]]


def test_plans_filling_the_op_limit_exactly_share_a_transaction():
    chains = transaction_chains([plan_of(64, "/a"), plan_of(64, "/b"), plan_of(1, "/c")])
    assert sizes(chains) == [[MAX_TXN_OPS], [1]]


def one_op(key: str) -> Plan:
    return Plan((Put(key, "v"),))


def test_plans_filling_the_byte_limit_exactly_share_a_transaction():
    size = op_size(Put("/k/a", "v"))
    two = Plan((Put("/k/c", "v"), Put("/k/d", "v")))
    chains = transaction_chains([one_op("/k/a"), one_op("/k/b"), two], max_bytes=2 * size)
    assert sizes(chains) == [[2], [2]]


def test_a_split_plan_fills_each_transaction_to_the_byte_limit_exactly():
    plan = Plan(tuple(Put(f"/k/{n}", "v") for n in range(4)))
    chains = transaction_chains([plan], max_bytes=2 * op_size(plan.ops[0]))
    assert sizes(chains) == [[2, 2]]
    assert [op for txn in chains[0] for op in txn] == list(plan.ops)


def test_a_plan_too_big_to_join_the_open_transaction_starts_its_own_chain():
    size = op_size(Put("/k/a", "v"))
    chains = transaction_chains([one_op("/k/a"), one_op("/k/b")], max_bytes=size + 1)
    assert sizes(chains) == [[1], [1]]
