"""Selection and addresses (SPEC §8), one rule for every layout: which containers are registered at all
(EC_REGISTRATOR_EXPLICIT), and where the layouts that publish addresses (backends, traefik) say each port of a
container is reached (EC_REGISTRATOR_ADDRESS, with SPEC §4's HOST_IP rule for published ports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.core.container import (
    Inspect,
    names_a_service,
    network_address,
    on_host_network,
    port_ignored,
    service_settings,
)
from agent.core.ports import ExposedPort, exposed_ports

PUBLISHED, CONTAINER = "published", "container"
ADDRESS_MODES = (PUBLISHED, CONTAINER)
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})  # a binding to every interface: the host is reached at HOST_IP


def host_and_port(ip: str, port: int | str) -> str:
    """`ip:port`, an IPv6 address in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass(frozen=True)
class Endpoint:
    port: int  # the container port
    proto: str
    address: str | None  # `ip:port` where it is reached; None when it is not (published mode: not published)


@dataclass(frozen=True)
class Reach:
    """Every port of a container that the layouts publishing addresses may register (exposed, not ignored by
    `SERVICE_<port>_IGNORE`), by (port, proto), and `missing`: why none has an address (no address on the
    container's network), one note for every layout to say."""

    endpoints: tuple[Endpoint, ...] = ()
    missing: str = ""


@dataclass(frozen=True)
class Selection:
    """The two settings of SPEC §8, one value that every layout is built with."""

    explicit: bool = False
    address: str = PUBLISHED

    def selects(self, inspect: Inspect) -> bool:
        """Not explicit, or the container names a service."""
        return not self.explicit or names_a_service(inspect)

    def reach(self, inspect: Inspect, host_ip: str) -> Reach:
        """A container on the host's network is reached at HOST_IP and the container port, in either mode: it
        listens on the host. Otherwise `published`: SPEC §4's `<ip>:<HostPort>` of each published port;
        `container`: the container's address on its network and the container port, for every port."""
        settings = service_settings(inspect)
        ports = [port for port in exposed_ports(inspect) if not port_ignored(settings, port.number)]
        if on_host_network(inspect):
            return _reach(ports, lambda port: host_and_port(host_ip, port.number))
        if self.address == PUBLISHED:
            return _reach(ports, lambda port: _published(port, host_ip))
        network, ip = network_address(inspect)
        if not ip:
            where = f"on network {network!r}" if network else "on any network"
            return Reach(_reach(ports, lambda port: None).endpoints,
                         f"left out of the layouts that publish addresses: it has no address {where} "
                         "(EC_REGISTRATOR_ADDRESS=container)")
        return _reach(ports, lambda port: host_and_port(ip, port.number))


DEFAULT_SELECTION = Selection()  # every registrable container, at its published ports (SPEC §3, §4)


def _reach(ports: list[ExposedPort], address: Callable[[ExposedPort], str | None]) -> Reach:
    return Reach(tuple(Endpoint(port.number, port.proto, address(port)) for port in ports))


def _published(entry: ExposedPort, host_ip: str) -> str | None:
    """SPEC §4: the binding's HostIp when it is a specific address, else HOST_IP; None when not published."""
    if not entry.host_port:
        return None
    return host_and_port(host_ip if entry.host_ip in ANY_ADDRESS else entry.host_ip, entry.host_port)
