"""The ec layout of ec.service-registrator (SPEC §3)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from agent.core.container import Inspect, container_id, container_name, first_network, labels, networks
from agent.core.escape import escape_segment
from agent.core.marker import MARKERS as AGENTS
from agent.core.ports import port_entries
from agent.core.selection import DEFAULT_SELECTION, Selection
from agent.layouts import INDEX, OWN, LayoutKind, Translation
from agent.layouts.selection import selection_of

CONTAINERS, HOSTS, LABELS = "containers", "hosts", "labels"  # the ec root's own folders, with AGENTS (markers)
RESERVED_HOSTS = frozenset({CONTAINERS, HOSTS, LABELS, AGENTS})  # so no host name may be one of them (SPEC §3)


@dataclass(frozen=True)
class EcKey:
    """What one key under the ec root is, as stored (segments escaped): `parse_key`'s answer.

    `folder` is AGENTS (the marker `P/agents/H`), HOSTS (`P/hosts/H/…`), CONTAINERS (`P/containers/I/…`),
    LABELS (`P/labels/<label>/I`) or "" for the second host index (`P/H/…`). `segment` is the host (AGENTS,
    HOSTS, "") or the label (LABELS); `container` the id (CONTAINERS, LABELS); `rest` what follows."""

    folder: str
    segment: str = ""
    container: str = ""
    rest: tuple[str, ...] = ()

    @property
    def index_entry(self) -> bool:
        """`P/hosts/H/<name>` or `P/H/<name>`: an entry of a host index, naming a container."""
        return self.folder in (HOSTS, "") and len(self.rest) == 1


def parse_key(root: str, key: str) -> EcKey | None:
    """The key's place in the ec layout; None when it has none (outside the root, or too short)."""
    if not key.startswith(root + "/"):
        return None
    parts = key[len(root) + 1:].split("/")
    head = parts[0]
    if head == AGENTS:
        return EcKey(AGENTS, parts[1]) if len(parts) == 2 else None
    if head == HOSTS:
        return EcKey(HOSTS, parts[1], rest=tuple(parts[2:])) if len(parts) >= 3 else None
    if head == CONTAINERS:
        return EcKey(CONTAINERS, container=parts[1], rest=tuple(parts[2:])) if len(parts) >= 3 else None
    if head == LABELS:
        return EcKey(LABELS, parts[1], parts[2]) if len(parts) == 3 else None
    return EcKey("", head, rest=tuple(parts[1:])) if len(parts) >= 2 else None


def network_ip(inspect: Inspect) -> str:
    """`.NetworkSettings.IPAddress`, else the first network's (by name) address, else ""."""
    settings = inspect.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return str(settings["IPAddress"])
    return str((networks(inspect).get(first_network(inspect)) or {}).get("IPAddress") or "")


def port_keys(base: str, inspect: Inspect) -> dict[str, str]:
    """One block per entry of `.NetworkSettings.Ports`, published or not, whatever SERVICE_<port>_IGNORE says: the
    ec layout is an inventory (SPEC §3, §8)."""
    keys: dict[str, str] = {}
    for entry in port_entries(inspect):
        block = f"{base}/network/ports/{escape_segment(entry.port)}-{escape_segment(entry.proto)}"
        keys[f"{block}/intPort"] = entry.port
        keys[f"{block}/extPort"] = entry.host_port
        keys[f"{block}/extIp"] = entry.host_ip
        keys[f"{block}/proto"] = entry.proto
    return keys


class EcLayout:
    name = "ec"
    first_wins = False

    def __init__(self, root: str, host: str, selection: Selection = DEFAULT_SELECTION) -> None:
        self.root = root
        self.host = host
        self.selection = selection  # explicit or not (keys_of asks it); the ec layout publishes no address
        self._host_segment = escape_segment(host)
        self._containers = f"{root}/{CONTAINERS}/"
        self._host_prefixes = (f"{root}/{HOSTS}/{self._host_segment}/", f"{root}/{self._host_segment}/")

    def container_keys(self, inspect: Inspect) -> dict[str, str]:
        cid = container_id(inspect)
        name = container_name(inspect)
        base = f"{self._containers}{cid}"
        container_labels = labels(inspect)
        keys = {
            f"{base}/id": cid,
            f"{base}/created": str(inspect.get("Created") or ""),
            f"{base}/state": str((inspect.get("State") or {}).get("Status") or ""),
            f"{base}/image": str((inspect.get("Config") or {}).get("Image") or ""),
            f"{base}/name": name,
            f"{base}/host": self.host,
        }
        keys.update({f"{base}/labels/{escape_segment(label)}": str(value) for label, value in container_labels.items()})
        keys[f"{base}/network/ip"] = network_ip(inspect)
        keys.update(port_keys(base, inspect))
        for prefix in self._host_prefixes:
            keys[prefix + escape_segment(name)] = cid
        for label, value in container_labels.items():
            keys[f"{self.root}/{LABELS}/{escape_segment(label)}/{cid}"] = str(value)
        return keys

    def translate(self, inspect: Inspect) -> Translation:
        return Translation(self.container_keys(inspect))

    def rank(self, key: str) -> int:
        return OWN if key.startswith(self._containers) else INDEX

    def shared(self, key: str) -> bool:
        return False

    def host_prefixes(self) -> tuple[str, ...]:
        return self._host_prefixes

    def watched(self, wanted: Collection[str]) -> set[str]:
        return set(self._host_prefixes)

    def recorded(self, key: str) -> bool:
        return False  # the host index leads to every key

    def more_to_read(self, found: Mapping[str, str], wanted: Collection[str],
                     container_ids: Collection[str]) -> tuple[set[str], set[str]]:
        """Each container's subtree the host index or `container_ids` name, and the label index keys its
        `labels/` keys name."""
        ids = set(container_ids) | {value for key, value in found.items()
                                    if key.startswith(self._host_prefixes) and value and "/" not in value}
        label_keys = set()
        for key in found:
            if key.startswith(self._containers):
                cid, _, rest = key[len(self._containers):].partition("/")
                if cid in ids and rest.startswith("labels/") and rest.count("/") == 1:
                    label_keys.add(f"{self.root}/{rest}/{cid}")
        return label_keys, {f"{self._containers}{cid}/" for cid in ids}

    def owned(self, kvs: Mapping[str, str], container_ids: Collection[str]) -> set[str]:
        ids = set(container_ids) | self._ids_filed_under_host(kvs)
        labels_prefix = f"{self.root}/{LABELS}/"
        return {
            key for key in kvs
            if key.startswith(self._host_prefixes)
            or (key.startswith(self._containers) and key[len(self._containers):].split("/", 1)[0] in ids)
            or (key.startswith(labels_prefix) and key.rsplit("/", 1)[-1] in ids)
        }

    def _ids_filed_under_host(self, kvs: Mapping[str, str]) -> set[str]:
        ids = {value for key, value in kvs.items() if key.startswith(self._host_prefixes)}
        ids.update(
            key[len(self._containers):-len("/host")] for key, value in kvs.items()
            if key.startswith(self._containers) and key.endswith("/host") and value == self.host
            and key.count("/") == self._containers.count("/") + 1
        )
        return ids


# its root, EC_REGISTRATOR_ETCD_DIR, is the agent's own setting: the marker lives under it whatever layouts are enabled
LAYOUT = LayoutKind(name="ec", root_setting="etcd_dir",
                    make=lambda values, host: EcLayout(values["etcd_dir"], host, selection_of(values)))
