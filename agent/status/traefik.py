"""`status`'s checks of the traefik layout (the anomalies `orphan-lease`, `foreign-server`, `no-server`,
`slash-root`: see agent/status/report.py) and a host's traefik keys. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from agent.core.escape import unescape_segment
from agent.layouts.backends import SHORT_ID
from agent.status.registry import (
    FOREIGN_SERVER,
    NO_SERVER,
    ORPHAN_LEASE,
    ROUTERS,
    SERVICES,
    SLASH_ROOT,
    Anomaly,
    MarkerFields,
    Registry,
    TraefikKey,
)


def traefik_of(registry: Registry, fields: MarkerFields) -> list[TraefikKey]:
    """The traefik keys of a host: on its lease, or (TTL 0) recorded by its marker and on no lease."""
    if fields.shown:
        return registry.traefik_leases.get(fields.shown, [])
    return [registry.traefik_keys[key] for key in fields.keys
            if key in registry.traefik_keys and registry.traefik[key].lease == 0]


def traefik_anomalies(registry: Registry, fields: Mapping[str, MarkerFields]) -> list[Anomaly]:
    found = [*orphan_leases(registry, fields), *foreign_servers(registry, fields), *routers_without_server(registry)]
    if registry.misrooted:
        count = len(registry.misrooted)
        found.append(Anomaly(SLASH_ROOT, f"{registry.slash_root}/",
                             f"{count} key{'s' * (count != 1)} that Traefik never reads: its rootKey "
                             f"{registry.traefik_root} has no leading / (the agent writes {registry.traefik_root}/…)"))
    return found


def orphan_leases(registry: Registry, fields: Mapping[str, MarkerFields]) -> list[Anomaly]:
    """Keys under T/ on a lease no marker is on or names, once per lease."""
    named = {lease for declared in fields.values() for lease in (declared.on, declared.lease)}
    by_lease: dict[int, list[str]] = {}
    for key, kv in registry.traefik.items():
        if kv.lease and kv.lease not in named:
            by_lease.setdefault(kv.lease, []).append(key)
    return [Anomaly(ORPHAN_LEASE, min(keys), f"lease {lease:x}, which no agent marker names, holds {len(keys)} traefik "
                    f"key{'s' * (len(keys) != 1)}: they belong to no host")
            for lease, keys in by_lease.items()]


def foreign_servers(registry: Registry, fields: Mapping[str, MarkerFields]) -> list[Anomaly]:
    """Server keys on a host's lease naming none of the containers its ec keys name."""
    hosts: dict[int, list[str]] = {}
    for segment, declared in sorted(fields.items()):
        if declared.shown:
            hosts.setdefault(declared.shown, []).append(segment)
    shorts = {lease: [{cid[:SHORT_ID] for cid in registry.host_containers(segment)} for segment in segments]
              for lease, segments in hosts.items()}
    found = []
    for key, parsed in registry.traefik_keys.items():
        known = shorts.get(registry.traefik[key].lease)
        if parsed.server is None or not known or not all(known) or any(parsed.server in ids for ids in known):
            continue
        names = ", ".join(unescape_segment(segment) for segment in hosts[registry.traefik[key].lease])
        found.append(Anomaly(FOREIGN_SERVER, key, f"server {parsed.server} of {parsed.proto} service {parsed.name} is "
                             f"on the lease of host {names}, whose ec keys name no container {parsed.server}"))
    return found


def routers_without_server(registry: Registry) -> list[Anomaly]:
    """Routers whose service (of this provider) has no server: absent, or a load balancer without servers."""
    keys = registry.traefik_keys.values()
    defined = {(key.proto, key.name) for key in keys if key.kind == SERVICES}
    served = {(key.proto, key.name) for key in keys
              if key.kind == SERVICES and (key.server is not None or key.rest[0].lower() != "loadbalancer")}
    found = []
    for key, parsed in registry.traefik_keys.items():
        if parsed.kind != ROUTERS or tuple(part.lower() for part in parsed.rest) != ("service",):
            continue
        service, at, provider = registry.traefik[key].value.partition("@")
        if (at and provider != "etcd") or (parsed.proto, service) in served:
            continue
        why = "has no server" if (parsed.proto, service) in defined else "is not defined"
        found.append(Anomaly(NO_SERVER, key, f"{parsed.proto} router {parsed.name} names service {service}, which "
                             f"{why} under {registry.traefik_root}/{parsed.proto}/services/"))
    return found
