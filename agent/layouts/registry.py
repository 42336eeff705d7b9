"""Every layout the agent knows, each declared once by its module's `LAYOUT`.

Adding a layout: its module (class and `LAYOUT`), one entry here, its tests. The order is that of --help and of
the nested-roots check (which names the later layout's root variable).
"""

from __future__ import annotations

from agent.layouts import Layout, LayoutKind, Values, backends, ec, selection, traefik
from agent.settings import Setting

LAYOUTS: tuple[LayoutKind, ...] = (ec.LAYOUT, backends.LAYOUT, traefik.LAYOUT)
SHARED_SETTINGS: tuple[Setting, ...] = selection.SETTINGS  # of several layouts, no one layout's own (SPEC §8)


def layout_settings() -> tuple[Setting, ...]:
    """Every layout's own settings, then the shared ones: read whether a layout is enabled or not."""
    return (*(setting for kind in LAYOUTS for setting in kind.settings), *SHARED_SETTINGS)


def build_layouts(values: Values, host: str) -> list[Layout]:
    """The enabled layouts, in the order EC_REGISTRATOR_LAYOUTS (`values["layouts"]`) names them."""
    kinds = {kind.name: kind for kind in LAYOUTS}
    return [kinds[name].make(values, host) for name in values["layouts"]]
