"""What this host wants in etcd, grouped by container (and the agent marker), with shared keys counted.

A key two containers want (`B/<service>/<n>/port` of two containers of one service) carries the value of the
group that wanted it last (SPEC §4: the last writer wins), or, for the keys `first_wins` names (a traefik
router two containers define, SPEC §7), of the group that wanted it first; a group that keeps wanting a key
keeps its place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

MARKER_GROUP = ""  # the group of the agent marker; container groups are container ids


class DesiredState:
    def __init__(self, first_wins: Callable[[str], bool] = lambda key: False) -> None:
        self._first_wins = first_wins
        self._groups: dict[str, dict[str, str]] = {}
        self._owners: dict[str, dict[str, None]] = {}  # key -> the groups wanting it, in the order they came

    def group(self, name: str) -> dict[str, str]:
        return dict(self._groups.get(name, {}))

    def group_names(self) -> list[str]:
        return list(self._groups)

    def has_group(self, name: str) -> bool:
        return name in self._groups

    def container_ids(self) -> set[str]:
        return {name for name in self._groups if name != MARKER_GROUP}

    def replace(self, name: str, keys: Mapping[str, str]) -> set[str]:
        """Set one group's keys; returns every key whose desired value may have changed."""
        old = self._groups.pop(name, {})
        for key in old.keys() - keys.keys():
            owners = self._owners[key]
            del owners[name]
            if not owners:
                del self._owners[key]
        if keys:
            self._groups[name] = dict(keys)
            for key in keys:
                self._owners.setdefault(key, {}).setdefault(name, None)
        return set(old) | set(keys)

    def reset(self, groups: Mapping[str, Mapping[str, str]]) -> None:
        for name in list(self._groups):
            if name not in groups:
                self.replace(name, {})
        for name, keys in groups.items():
            self.replace(name, keys)

    def values(self, keys: Iterable[str]) -> dict[str, str]:
        """The desired value of each of `keys` that any group wants (its owner's)."""
        return {key: self._groups[self.owner(key)][key] for key in keys if key in self._owners}

    def owner(self, key: str) -> str:
        """The group whose value a shared key carries: the last to want it, or the first for `first_wins` keys."""
        owners = self._owners[key]
        return next(iter(owners)) if self._first_wins(key) else next(reversed(owners))

    def disputed(self, keys: Iterable[str]) -> dict[str, dict[str, str]]:
        """Of `keys`, those that groups want with different values: each group's value, in the order they came."""
        found = {}
        for key in keys:
            wanting = {name: self._groups[name][key] for name in self._owners.get(key, {})}
            if len(set(wanting.values())) > 1:
                found[key] = wanting
        return found

    def everything(self) -> dict[str, str]:
        return self.values(list(self._owners))

    def keys(self) -> set[str]:
        return set(self._owners)

    def __contains__(self, key: str) -> bool:
        return key in self._owners
