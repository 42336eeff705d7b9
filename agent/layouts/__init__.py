"""Key layouts. A layout is a pure mapping from one container's inspect dict to the keys it wants.

The rest of the agent only sees the `Layout` protocol. Each layout module declares itself once, as its
`LAYOUT` (a `LayoutKind`: name, settings, factory, start-up check); agent/layouts/registry.py lists them and
builds the enabled ones (`build_layouts`), and the agent's settings read that list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.core.container import Inspect, is_registrable
from agent.core.layout import INDEX, OWN, Layout, Translation
from agent.core.plan import fits_one_request
from agent.settings import Setting

__all__ = ["INDEX", "OWN", "Layout", "LayoutKind", "Translation", "Values", "keys_of"]

Values = Mapping[str, Any]  # every setting's value by name, the agent's and the layouts' (Config.setting_values)

@dataclass(frozen=True)
class LayoutKind:
    """A layout as configuration knows it.

    `name` is its word in EC_REGISTRATOR_LAYOUTS; `settings` are its own (read whether it is enabled or not);
    `root_setting` names the setting (its own or the agent's) that holds its root, which must not nest with
    another enabled layout's; `make(values, host)` builds it from every setting's value by name; `check(values)`,
    when given, runs at start-up when it is enabled and raises ConfigError."""

    name: str
    root_setting: str
    make: Callable[[Values, str], Layout]
    settings: tuple[Setting, ...] = ()
    check: Callable[[Values], None] | None = None


def keys_of(inspect: Inspect, layouts: Sequence[Layout]) -> tuple[dict[str, str], list[str]]:
    """Every key of one container in every layout (none when it is not to be registered: not registrable, or not
    selected by EC_REGISTRATOR_EXPLICIT, which every layout is built with), and a note on each thing left out: what
    a layout could not write, a key over etcd's request limit."""
    if not is_registrable(inspect) or not all(layout.selection.selects(inspect) for layout in layouts):
        return {}, []
    keys: dict[str, str] = {}
    notes: list[str] = []
    for layout in layouts:
        translation = layout.translate(inspect)
        keys.update(translation.keys)
        notes.extend(translation.notes)
    for key in [key for key, value in keys.items() if not fits_one_request(key, value)]:
        del keys[key]
        notes.append(f"skipping {key}, it is over etcd's request limit")
    return keys, notes
