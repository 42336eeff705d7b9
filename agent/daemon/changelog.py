"""How the writer tells what it decided: one log line per decision with the container's name and id, and
the registration counters that go with it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from agent import metrics
from agent.core.desired import MARKER_GROUP
from agent.core.hoststate import STALE_GROUP, Comparison, GroupPlan

log = logging.getLogger(__name__)


class ChangeLog:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # container id -> `name (short id)`, of the containers Docker runs
        self._conflicts_warned: set[str] = set()
        self._disputes_warned: set[str] = set()
        self._left_out_warned: dict[str, set[str]] = {}  # container id -> the notes said of it

    def name(self, group: str) -> str:
        return "agent marker" if group == MARKER_GROUP else self.names.get(group, group[:12])

    def change(self, item: GroupPlan, why: str, removed: bool) -> None:
        plan = item.plan
        if item.group == STALE_GROUP:
            log.info("deleted %d stale keys of this host (%s)", len(plan.deletes), why)
            return
        name = self.name(item.group)
        if removed:
            verb = "removed"
            metrics.REMOVALS.labels("ok").inc()
            self.names.pop(item.group, None)
            self._left_out_warned.pop(item.group, None)
        else:
            verb = "updated" if item.existed else "registered"
            metrics.REGISTRATIONS.labels("ok").inc()
        log.info("%s %s (%s): %d puts, %d deletes", verb, name, why, len(plan.puts), len(plan.deletes))

    def left_out(self, cid: str, name: str, notes: list[str]) -> None:
        """What the layouts left out of one container (a label, a key over etcd's limit): each said once while
        the container runs."""
        said = self._left_out_warned.setdefault(cid, set())
        for note in notes:
            if note not in said:
                said.add(note)
                log.warning("%s: %s", name, note)

    def disputes(self, disputed: Mapping[str, Mapping[str, str]], owner: Callable[[str], str]) -> None:
        """Keys this host's own containers want with different values (each group's value, in the order they
        came), and the group whose value is written (`owner`); each key said once."""
        for key, wanting in disputed.items():
            if key in self._disputes_warned:
                continue
            self._disputes_warned.add(key)
            said = ", ".join(f"{self.name(group)}: {value!r}" for group, value in wanting.items())
            log.warning("%s is wanted differently by containers of this host (%s); %s keeps it: containers should "
                        "define it alike", key, said, self.name(owner(key)))

    def comparison(self, comparison: Comparison) -> None:
        """What a full comparison left alone: keys someone keeps changing, shared keys another host holds
        with another value (each said once)."""
        if comparison.fought:
            log.error("%d keys (%s, …) keep being changed by someone else; not restoring them for now. Is another "
                      "agent registering the same containers under another host name?", len(comparison.fought),
                      comparison.fought[0])
        for key in comparison.conflicts:
            if key not in self._conflicts_warned:
                self._conflicts_warned.add(key)
                log.warning("%s is %r on another host, %r here; the host holding it keeps it: containers on "
                            "every host should define it alike", key, comparison.held_elsewhere[key],
                            comparison.wanted[key])
