"""Every layout the agent knows, each declared once by its module's `LAYOUT`.

Adding a layout: its module (class and `LAYOUT`), one entry here, its tests. The order is that of --help and of
the nested-roots check (which names the later layout's root variable).
"""

from __future__ import annotations

from agent.layouts import LayoutKind, backends, ec

LAYOUTS: tuple[LayoutKind, ...] = (ec.LAYOUT, backends.LAYOUT)
