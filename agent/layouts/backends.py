"""The backends layout of docker-register, multi-port form (SPEC §4), at the addresses of SPEC §8:

    B/<service>/<n>/<container> = "<ip>:<port>"             (`<ip>:<HostPort>` in the default, published mode)
    B/<service>/<n>/port        = "<container port>"   (shared by every host running the service)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import partial

from agent.core.container import Inspect, container_id, container_name, service_settings
from agent.core.escape import escape_segment
from agent.core.selection import DEFAULT_SELECTION, Selection
from agent.layouts import INDEX, OWN, LayoutKind, Translation
from agent.layouts.selection import check_host_ip, selection_of
from agent.settings import Setting, root_dir

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


class BackendsLayout:
    name = "backends"
    first_wins = False  # SPEC §4: the last writer of `port` wins

    def __init__(self, root: str, host_ip: str, selection: Selection = DEFAULT_SELECTION) -> None:
        self.root = root
        self.host_ip = host_ip
        self.selection = selection

    def translate(self, inspect: Inspect) -> Translation:
        """Each port the selection reaches (SPEC §4, §8), grouped by service and numbered in (port, proto) order."""
        settings = service_settings(inspect)
        image = str((inspect.get("Config") or {}).get("Image") or "")
        fallback = settings.get("SERVICE_NAME") or image_service(image) or container_name(inspect)
        short = escape_segment(container_id(inspect)[:SHORT_ID])
        reach = self.selection.reach(inspect, self.host_ip)
        numbers: dict[str, int] = {}
        own: dict[str, str] = {}
        index: dict[str, str] = {}
        for endpoint in reach.endpoints:
            if endpoint.address is None:
                continue
            service = escape_segment(settings.get(f"SERVICE_{endpoint.port}_NAME") or fallback)
            numbers[service] = numbers.get(service, 0) + 1
            base = f"{self.root}/{service}/{numbers[service]}"
            own[f"{base}/{short}"] = endpoint.address
            index[f"{base}/{PORT_LEAF}"] = str(endpoint.port)
        notes = [reach.missing] if reach.missing and reach.endpoints else []
        return Translation({**own, **index}, notes)

    def container_keys(self, inspect: Inspect) -> dict[str, str]:
        return self.translate(inspect).keys

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


BACKENDS_DIR = Setting("backends_dir", "--backends-dir", "EC_REGISTRATOR_BACKENDS_DIR", "backends",
                       "root of the backends layout", partial(root_dir, "EC_REGISTRATOR_BACKENDS_DIR"))

LAYOUT = LayoutKind(
    name="backends",
    root_setting="backends_dir",
    make=lambda values, host: BackendsLayout(values["backends_dir"], values["host_ip"], selection_of(values)),
    settings=(BACKENDS_DIR,),
    check=check_host_ip,
)
