"""The backends layout of docker-register, multi-port form (SPEC §4):

    B/<service>/<n>/<container> = "<ip>:<HostPort>"
    B/<service>/<n>/port        = "<container port>"   (shared by every host running the service)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import partial
from typing import Any

from agent.core.container import Inspect, container_id, container_name, service_settings
from agent.core.escape import escape_segment
from agent.layouts import INDEX, OWN, LayoutKind, Translation, Values
from agent.settings import ConfigError, Setting, optional, root_dir

ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})
SHORT_ID = 12
PORT_LEAF = "port"  # B/<service>/<n>/port, shared by every host running the service


def split_key(root: str, key: str) -> tuple[str, str, str] | None:
    """`B/<service>/<n>/<leaf>` as its three segments, as stored (escaped); None for any other key."""
    parts = key[len(root) + 1:].split("/") if key.startswith(root + "/") else []
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def image_service(image: str) -> str:
    """`reg.example:5000/team/web:1.2` -> `web`: the repository's last component, no tag, no digest."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def published_ports(inspect: Inspect) -> list[tuple[int, str, Mapping[str, Any]]]:
    """(container port, proto, first host binding) of every published port, in ascending order."""
    ports: Mapping[str, Any] = (inspect.get("NetworkSettings") or {}).get("Ports") or {}
    found = []
    for spec, bindings in ports.items():
        port, _, proto = spec.partition("/")
        if bindings and port.isdigit():
            found.append((int(port), (proto or "tcp").lower(), bindings[0] or {}))
    return sorted(found, key=lambda item: (item[0], item[1]))


def address(host_ip: str, port: str) -> str:
    return f"[{host_ip}]:{port}" if ":" in host_ip else f"{host_ip}:{port}"


class BackendsLayout:
    name = "backends"
    first_wins = False  # SPEC §4: the last writer of `port` wins

    def __init__(self, root: str, host_ip: str) -> None:
        self.root = root
        self.host_ip = host_ip

    def container_keys(self, inspect: Inspect) -> dict[str, str]:
        settings = service_settings(inspect)
        image = str((inspect.get("Config") or {}).get("Image") or "")
        fallback = settings.get("SERVICE_NAME") or image_service(image) or container_name(inspect)
        short = escape_segment(container_id(inspect)[:SHORT_ID])
        numbers: dict[str, int] = {}
        own: dict[str, str] = {}
        index: dict[str, str] = {}
        for port, _, binding in published_ports(inspect):
            service = escape_segment(settings.get(f"SERVICE_{port}_NAME") or fallback)
            numbers[service] = numbers.get(service, 0) + 1
            base = f"{self.root}/{service}/{numbers[service]}"
            host_ip = str(binding.get("HostIp") or "")
            own[f"{base}/{short}"] = address(self.host_ip if host_ip in ANY_ADDRESS else host_ip,
                                             str(binding.get("HostPort") or ""))
            index[f"{base}/{PORT_LEAF}"] = str(port)
        return {**own, **index}

    def translate(self, inspect: Inspect) -> Translation:
        return Translation(self.container_keys(inspect))

    def rank(self, key: str) -> int:
        return INDEX if self.shared(key) else OWN

    def shared(self, key: str) -> bool:
        return key.startswith(self.root + "/") and key.endswith("/" + PORT_LEAF)

    def host_prefixes(self) -> tuple[str, ...]:
        return ()  # every key of a service's group is shared by the hosts running it

    def watched(self, wanted: Collection[str]) -> set[str]:
        """The groups of the services this host runs: `B/<service>/`."""
        prefix = self.root + "/"
        return {prefix + key[len(prefix):].split("/", 1)[0] + "/" for key in wanted if key.startswith(prefix)}

    def recorded(self, key: str) -> bool:
        return key.startswith(self.root + "/")

    def more_to_read(self, found: Mapping[str, str], wanted: Collection[str],
                     container_ids: Collection[str]) -> tuple[set[str], set[str]]:
        """The group of each shared key found but no longer wanted: whether another host's key stands
        beside it decides if it may be deleted."""
        return set(), {key.rsplit("/", 1)[0] + "/" for key in found if self.shared(key) and key not in wanted}

    def owned(self, kvs: Mapping[str, str], container_ids: Collection[str]) -> set[str]:
        shorts = {escape_segment(cid[:SHORT_ID]) for cid in container_ids}
        return {key for key in kvs if not self.shared(key) and key.rsplit("/", 1)[-1] in shorts}


def check_host_ip(values: Values) -> None:
    if not values["host_ip"]:
        raise ConfigError("EC_REGISTRATOR_HOST_IP: expected the address the backends and traefik layouts publish "
                          "for ports bound to all interfaces, e.g. 10.0.0.5 (alias HOST_IP)")


BACKENDS_DIR = Setting("backends_dir", "--backends-dir", "EC_REGISTRATOR_BACKENDS_DIR", "backends",
                       "root of the backends layout", partial(root_dir, "EC_REGISTRATOR_BACKENDS_DIR"))
HOST_IP = Setting("host_ip", "--host-ip", "EC_REGISTRATOR_HOST_IP", None,
                  "address published in the backends and traefik layouts", optional, ("HOST_IP",))

LAYOUT = LayoutKind(
    name="backends",
    root_setting="backends_dir",
    make=lambda values, host: BackendsLayout(values["backends_dir"], values["host_ip"]),
    settings=(BACKENDS_DIR, HOST_IP),
    check=check_host_ip,
)
