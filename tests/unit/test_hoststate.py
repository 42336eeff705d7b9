"""The writer's pure model, driven method by method: what a host wants, wrote, sees others hold, and judges
broken (SPEC §4, §6). No etcd, no Docker: what was read or seen is given as values."""

from __future__ import annotations

import pytest

from agent.core.desired import DesiredState
from agent.core.flapguard import FlapGuard
from agent.core.hoststate import STALE_GROUP, GroupPlan, HostState, HostTakenOver
from agent.core.kv import KeyValue, WatchEvent
from agent.core.marker import RUNNING, STOPPED, Marker, marker_key
from agent.core.ownership import owned_keys
from agent.core.plan import Delete, Plan, Put
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout

P, B, H, HOST_IP = "/registry", "/backends", "h1", "10.1.2.3"
LEASE, OTHER = 0x7A01, 0x7A02  # this host's lease; another host's
MARKER = marker_key(P, H)
OURS = Marker(H, LEASE, RUNNING, "2026-01-01T00:00:00+00:00", agent="1-ours")
CID, FORMER = "c" * 64, "f" * 64
INDEX, SECOND_INDEX = f"{P}/hosts/{H}/web", f"{P}/{H}/web"
BACKEND, PORT = f"{B}/web/1/{CID[:12]}", f"{B}/web/1/port"
WEB = {f"{P}/containers/{CID}/id": CID, f"{P}/containers/{CID}/name": "web", INDEX: CID, SECOND_INDEX: CID,
       BACKEND: "10.1.2.3:5354", PORT: "53"}


def ec() -> EcLayout:
    return EcLayout(P, H)


def backends() -> BackendsLayout:
    return BackendsLayout(B, HOST_IP)


def host(records: bool = False, flaps: FlapGuard | None = None) -> HostState:
    return HostState([ec(), backends()], OURS, MARKER, records, flaps)


def kv(key: str, value: str, lease: int = LEASE, revision: int = 2) -> KeyValue:
    return KeyValue(key, value, lease, revision)


def put(key: str, value: str, lease: int, revision: int) -> WatchEvent:
    return WatchEvent(key, value, lease, revision, False)


def gone(key: str, revision: int) -> WatchEvent:
    return WatchEvent(key, "", 0, revision, True)


def stored(state: HostState, lease: int = LEASE) -> list[KeyValue]:
    """etcd holding exactly what `state` wants, on `lease`."""
    return [kv(key, value, lease) for key, value in state.desired.everything().items()]


def in_step(flaps: FlapGuard | None = None) -> HostState:
    """A host running `web`, after a full comparison at revision 10 that found etcd exact."""
    state = host(flaps=flaps)
    state.want_containers({CID: WEB})
    comparison = state.compare(stored(state), LEASE)
    assert comparison.plans == ()
    state.in_step(comparison, 10)
    return state


# -- what a host wants and wrote ------------------------------------------------------------------------


def test_a_new_host_state_has_read_written_and_seen_nothing():
    state = host()
    assert (state.revision, state.snapshot_revision) == (0, 0)
    assert (state.written, state.held_elsewhere, state.broken) == ({}, set(), set())
    assert state.desired.everything() == {MARKER: OURS.encode()}


def test_a_container_wanted_before_any_comparison_is_planned_whole_as_new():
    state = host()
    plan, existed = state.change_plan(state.want_container(CID, WEB))
    assert {op.key: op.value for op in plan.puts} == WEB and not plan.deletes
    assert existed is False


def test_a_changed_container_is_an_update_of_the_keys_that_changed():
    state = host()
    plan, _ = state.change_plan(state.want_container(CID, WEB))
    state.applied(plan.ops, 5)
    assert state.written == WEB and state.revision == 5
    plan, existed = state.change_plan(state.want_container(CID, {**WEB, BACKEND: "10.1.2.3:5355"}))
    assert plan == Plan((Put(BACKEND, "10.1.2.3:5355"),))
    assert existed is True


def test_a_container_stopped_and_started_again_is_written_again():
    state = host()
    plan, _ = state.change_plan(state.want_container(CID, WEB))
    state.applied(plan.ops, 5)
    plan, existed = state.change_plan(state.want_container(CID, {}))
    assert {op.key for op in plan.deletes} == set(WEB) and not plan.puts and existed is True
    state.applied(plan.ops, 6)
    assert state.written == {}
    plan, existed = state.change_plan(state.want_container(CID, WEB))
    assert {op.key: op.value for op in plan.puts} == WEB and existed is False


# -- shared keys around a single change -------------------------------------------------------------------


def test_only_shared_keys_neither_written_nor_held_elsewhere_are_read_before_a_put():
    state = host()
    affected = state.want_container(CID, WEB)
    assert state.unseen_shared(affected) == {PORT}
    plan, _ = state.change_plan(affected)
    state.applied(plan.ops, 5)
    assert state.unseen_shared(affected) == set()  # written by us
    api_port, api = f"{B}/api/1/port", "a" * 64
    state.note_held([kv(api_port, "8080", OTHER)], LEASE)
    assert state.unseen_shared(state.want_container(api, {f"{B}/api/1/{api[:12]}": "10.1.2.3:8080",
                                                          api_port: "8080"})) == set()  # another host's


def test_only_shared_keys_read_on_another_lease_are_held_elsewhere():
    state = host()
    affected = state.want_container(CID, WEB)
    state.note_held([kv(PORT, "53", OTHER), kv(INDEX, CID, OTHER), kv(f"{B}/web/2/port", "80")], LEASE)
    assert state.held_elsewhere == {PORT}
    plan, _ = state.change_plan(affected)
    assert {op.key for op in plan.puts} == set(WEB) - {PORT}  # an unshared key on another lease is put


def test_a_shared_key_left_beside_another_hosts_key_is_read_again_before_it_is_put():
    state = host()
    plan, _ = state.change_plan(state.want_container(CID, WEB))
    state.applied(plan.ops, 5)
    plan, _ = state.change_plan(state.want_container(CID, {}))
    state.leave_shared([PORT])  # another host's backend stands beside it: not deleted
    state.applied([op for op in plan.ops if op.key != PORT], 6)
    assert state.written == {}
    assert state.unseen_shared(state.want_container(CID, WEB)) == {PORT}
    state.leave_shared([f"{B}/api/1/port"])  # never written: nothing to forget
    assert state.written == {}


# -- the full comparison ------------------------------------------------------------------------------


def test_a_shared_key_another_host_holds_is_left_to_it_and_a_different_value_is_a_conflict():
    state = host()
    second_port = f"{B}/web/2/port"
    state.want_containers({CID: {**WEB, f"{B}/web/2/{CID[:12]}": "10.1.2.3:8081", second_port: "80"}})
    theirs = {PORT: "5353", second_port: "80"}
    etcd = [kv(key, value) for key, value in state.desired.everything().items() if key not in theirs]
    comparison = state.compare([*etcd, *(kv(key, value, OTHER) for key, value in theirs.items())], LEASE)
    assert comparison.plans == ()
    assert comparison.held_elsewhere == theirs
    assert comparison.conflicts == (PORT,)


def test_keys_of_this_host_no_container_wants_are_deleted_as_stale_unless_docker_could_not_show_all():
    state = host()
    state.want_containers({CID: WEB})
    former = [kv(f"{P}/containers/{FORMER}/id", FORMER), kv(f"{P}/hosts/{H}/former", FORMER)]
    comparison = state.compare([*stored(state), *former], LEASE)
    stale = Plan(deletes=(Delete(f"{P}/hosts/{H}/former"), Delete(f"{P}/containers/{FORMER}/id")))
    assert comparison.plans == (GroupPlan(STALE_GROUP, stale, True),)
    assert state.compare([*stored(state), *former], LEASE, complete=False).plans == ()


def test_a_key_someone_keeps_changing_back_is_restored_three_times_then_said_fought():
    state = in_step(FlapGuard(clock=lambda: 0.0))
    tampered = [kv(item.key, "tampered" if item.key == INDEX else item.value) for item in stored(state)]
    for revision in (11, 12, 13):
        comparison = state.compare(tampered, LEASE)
        assert comparison.plans == (GroupPlan(CID, Plan((Put(INDEX, CID),)), True),)
        assert comparison.fought == ()
        state.applied(comparison.plans[0].plan.ops, revision)
        state.in_step(comparison, revision)
    comparison = state.compare(tampered, LEASE)
    assert comparison.plans == () and comparison.fought == (INDEX,)


# -- self-healing -------------------------------------------------------------------------------------


def test_what_was_broken_adds_up_until_the_repair_takes_it():
    state = in_step()
    assert state.damage([gone(INDEX, 11)], LEASE) == {INDEX}
    assert state.damage([put(SECOND_INDEX, "tampered", LEASE, 12)], LEASE) == {SECOND_INDEX}
    assert state.take_broken() == {INDEX, SECOND_INDEX}
    assert state.take_broken() == set()


def test_a_put_leaving_a_key_as_we_want_it_on_our_lease_is_no_damage():
    state = in_step()
    assert state.damage([put(INDEX, CID, LEASE, 11)], LEASE) == set()
    assert state.damage([put(INDEX, CID, OTHER, 12)], LEASE) == {INDEX}  # it would go with their lease


def test_the_echo_of_an_older_write_of_ours_is_no_damage():
    state = host()
    plan, _ = state.change_plan(state.want_container(CID, WEB))
    state.applied(plan.ops, 5)
    plan, _ = state.change_plan(state.want_container(CID, {**WEB, BACKEND: "10.1.2.3:5355"}))
    state.applied(plan.ops, 6)
    assert state.damage([put(BACKEND, "10.1.2.3:5354", LEASE, 5), put(BACKEND, "10.1.2.3:5355", LEASE, 6)],
                        LEASE) == set()


def test_a_key_put_under_our_host_index_that_we_do_not_want_is_damage():
    state = in_step()
    intruder = f"{P}/hosts/{H}/intruder"
    assert state.damage([put(intruder, "0" * 64, OTHER, 11)], LEASE) == {intruder}


def test_changes_beside_ours_outside_our_host_index_are_no_damage():
    state = in_step()
    assert state.damage([put(f"{B}/web/1/{'9' * 12}", "10.9.9.9:5354", OTHER, 11),  # another host's backend
                         put(f"{P}/hosts/h2/web", "2" * 64, OTHER, 12)], LEASE) == set()


def test_a_shared_key_another_host_puts_is_its_own_and_no_damage():
    state = in_step()
    assert state.damage([put(PORT, "5353", OTHER, 11)], LEASE) == set()
    assert PORT in state.held_elsewhere and PORT not in state.written
    plan, _ = state.change_plan(state.want_container(CID, {}))
    assert {op.key for op in plan.deletes} == set(WEB) - {PORT}  # not ours to delete


def test_a_shared_key_deleted_by_the_host_holding_it_is_damage_and_ours_to_put_back():
    state = in_step()
    state.damage([put(PORT, "5353", OTHER, 11)], LEASE)
    assert state.damage([gone(PORT, 12)], LEASE) == {PORT}
    assert PORT not in state.held_elsewhere
    assert state.unseen_shared(set(WEB)) == {PORT}


def test_a_shared_key_put_on_our_own_lease_is_no_longer_held_elsewhere():
    state = in_step()
    state.damage([put(PORT, "5353", OTHER, 11)], LEASE)
    assert state.damage([put(PORT, "53", LEASE, 12)], LEASE) == set()
    assert PORT not in state.held_elsewhere


def test_the_late_echo_of_our_own_write_of_a_shared_key_on_a_former_lease_leaves_it_ours():
    first, second = LEASE, LEASE + 1
    state = host()
    state.applied([Put(PORT, "53")], 9)  # on our first lease
    state.damage([put(PORT, "53", first, 9)], second)  # its echo, told once we moved to a second lease
    assert PORT not in state.held_elsewhere and state.written == {PORT: "53"}


# -- the marker ---------------------------------------------------------------------------------------


def test_a_marker_another_running_agent_wrote_after_ours_is_a_takeover_naming_the_host_and_agent():
    state = in_step()
    state.applied([Put(MARKER, OURS.encode())], 11)
    theirs = Marker(H, LEASE, RUNNING, "2026-01-02T00:00:00+00:00", agent="2-theirs")
    with pytest.raises(HostTakenOver) as raised:
        state.damage([put(MARKER, theirs.encode(), LEASE, 12)], LEASE)
    assert "host h1" in str(raised.value) and "(2-theirs)" in str(raised.value)


@pytest.mark.parametrize(("value", "damaged"), [
    ("not a marker", True),  # broken: repaired, not obeyed
    (Marker(H, LEASE, STOPPED, "x", agent="2-theirs").encode(), True),  # another agent, stopped
    (Marker(H, LEASE, RUNNING, "x", agent="").encode(), True),  # running, but naming no agent
    (OURS.encode(), False),  # ours, put back by someone
], ids=["garbled", "stopped by another agent", "running naming no agent", "ours put back"])
def test_a_marker_changed_after_ours_is_a_takeover_only_by_another_running_agent(value, damaged):
    state = in_step()
    state.applied([Put(MARKER, OURS.encode())], 11)
    assert state.damage([put(MARKER, value, LEASE, 12)], LEASE) == ({MARKER} if damaged else set())


def test_a_value_like_another_agents_marker_under_another_key_is_no_takeover():
    state = in_step()
    state.applied([Put(MARKER, OURS.encode())], 11)
    theirs = Marker(H, LEASE, RUNNING, "x", agent="2-theirs").encode()
    assert state.damage([put(f"{P}/hosts/{H}/intruder", theirs, LEASE, 12)], LEASE) == {f"{P}/hosts/{H}/intruder"}


# -- keys of no layout ------------------------------------------------------------------------------


def test_with_the_backends_layout_alone_the_marker_is_of_no_layout_and_written_with_the_own_keys():
    state = HostState([backends()], OURS, MARKER, records=True)
    affected = state.want_container(CID, {BACKEND: "10.1.2.3:5354", PORT: "53"})
    assert affected == {BACKEND, PORT, MARKER} and state.marker.keys == (BACKEND, PORT)
    assert not state.shared(MARKER) and not state.host_scoped(BACKEND)
    plan, _ = state.change_plan([PORT, MARKER, BACKEND])
    assert [op.key for op in plan.puts] == [MARKER, BACKEND, PORT]  # own keys (the marker's rank) first


# -- the desired state, a foreign lease -------------------------------------------------------------


def test_a_group_nothing_was_wanted_for_wants_nothing():
    desired = DesiredState()
    desired.replace("a", {PORT: "53"})
    assert desired.group("b") == {} and desired.group("a") == {PORT: "53"}


def test_only_keys_groups_want_with_different_values_are_disputed():
    desired = DesiredState()
    desired.replace("a", {PORT: "53", INDEX: "1"})
    desired.replace("b", {PORT: "5353", INDEX: "1"})
    desired.replace("c", {BACKEND: "2"})
    assert desired.disputed([PORT, INDEX, BACKEND, SECOND_INDEX]) == {PORT: {"a": "53", "b": "5353"}}


def test_a_key_on_a_foreign_lease_reads_as_such():
    owned = owned_keys([kv(INDEX, CID, OTHER)], [ec()], (), LEASE, MARKER)
    assert repr(owned) == f"{{'{INDEX}': <foreign lease>}}"
