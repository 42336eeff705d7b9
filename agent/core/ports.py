"""A container's ports, read from one inspect dict in one place for every layout: `.NetworkSettings.Ports` as the
engine reports it (the ec layout's blocks, SPEC §3), and the ports the container exposes (the layouts that publish
addresses, SPEC §4, §7, §8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.core.container import Inspect

PORT_DIGITS = 5  # 65535: more digits is no port


@dataclass(frozen=True)
class PortEntry:
    port: str  # the container port as the engine writes it ("80")
    proto: str  # lower case; "tcp" when none is written
    binding: Mapping[str, Any] | None  # its first host binding (the first wins); None when it has none

    @property
    def number(self) -> int | None:
        """The container port as a number; None when it is not written in ASCII digits."""
        digits = self.port.isascii() and self.port.isdigit() and len(self.port) <= PORT_DIGITS
        return int(self.port) if digits else None

    @property
    def host_ip(self) -> str:
        return str((self.binding or {}).get("HostIp") or "")

    @property
    def host_port(self) -> str:
        """The published port; "" when the port is not published."""
        return str((self.binding or {}).get("HostPort") or "")


@dataclass(frozen=True)
class ExposedPort:
    number: int  # the container port
    proto: str
    host_ip: str  # of its first host binding; "" when none
    host_port: str  # "" when it is not published


def _entry(spec: str, bindings: Any) -> PortEntry:
    port, _, proto = str(spec).partition("/")
    return PortEntry(port, (proto or "tcp").lower(), (bindings or [None])[0] or None)


def port_entries(inspect: Inspect) -> list[PortEntry]:
    """One entry per key of `.NetworkSettings.Ports`, in the engine's order."""
    ports: Mapping[str, Any] = (inspect.get("NetworkSettings") or {}).get("Ports") or {}
    return [_entry(spec, bindings) for spec, bindings in ports.items()]


def exposed_ports(inspect: Inspect) -> list[ExposedPort]:
    """Every port the container exposes, once each (the first entry of a port written twice), by (port, proto):
    those of `.NetworkSettings.Ports`, and of `.Config.ExposedPorts` (all a host-network container shows on Docker)."""
    declared = [_entry(spec, None) for spec in (inspect.get("Config") or {}).get("ExposedPorts") or {}]
    found: dict[tuple[int, str], ExposedPort] = {}
    for entry in [*port_entries(inspect), *declared]:
        if entry.number is not None:
            found.setdefault((entry.number, entry.proto),
                             ExposedPort(entry.number, entry.proto, entry.host_ip, entry.host_port))
    return [found[key] for key in sorted(found)]
