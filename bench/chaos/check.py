"""A quiet point: etcd compared key by key with an independent rendering of what each engine says (SPEC §3, §4
and §7 written out again in tests/support/expect.py), for every host and the three layouts, and every key on its
host's live lease."""

from __future__ import annotations

import json

from bench.chaos.world import BACKENDS, ROOT, TRAEFIK, World
from tests.support.expect import backends_picture, docker_picture, etcd_picture, traefik_picture
from tests.support.waiting import difference


def expected(world: World) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    ec: dict[str, str] = {}
    backends: dict[str, str] = {}
    traefik: dict[str, str] = {}  # the union over hosts: shared definitions are alike on every host
    for host in world.hosts:
        ec.update(docker_picture(host.client, ROOT, host.name))
        backends.update(backends_picture(host.client, BACKENDS, host.host_ip))
        traefik.update(traefik_picture(host.client, TRAEFIK, host.host_ip))
    return ec, backends, traefik


def problems(world: World) -> list[str]:
    """What differs now; empty when etcd is exact."""
    etcd = world.etcd()
    ec, backends, traefik = expected(world)
    found = []
    actual_ec, actual_backends = etcd_picture(etcd, ROOT), etcd.values(BACKENDS + "/")
    actual_traefik = etcd.values(TRAEFIK + "/")
    if actual_ec != ec:
        found.append(f"ec layout: {difference(actual_ec, ec)}")
    if actual_backends != backends:
        found.append(f"backends layout: {difference(actual_backends, backends)}")
    if actual_traefik != traefik:
        found.append(f"traefik layout: {difference(actual_traefik, traefik)}")
    found += lease_problems(world)
    return found


def lease_problems(world: World) -> list[str]:
    """Every host's marker running on a live lease, and each key of a host on that lease (a shared backends
    `port` key, a traefik router, middleware or service setting: on the lease of one of the hosts)."""
    etcd = world.etcd()
    leases: dict[str, int] = {}
    found = []
    for host in world.hosts:
        stored = etcd.get(f"{ROOT}/agents/{host.name}")
        marker = json.loads(stored.value) if stored else {}
        if marker.get("state") != "running" or not stored or stored.lease != marker.get("lease"):
            found.append(f"marker of {host.name}: {stored.value if stored else 'missing'}")
            continue
        remaining, _ = etcd.lease_keys(stored.lease)
        if remaining <= 0:
            found.append(f"lease of {host.name} ({stored.lease:x}) is gone")
        leases[host.name] = stored.lease
    items = {**etcd.items(ROOT + "/"), **etcd.items(BACKENDS + "/"), **etcd.items(TRAEFIK + "/")}
    hosts_of = {key.split("/")[-2]: item.value for key, item in items.items()
                if key.startswith(f"{ROOT}/containers/") and key.endswith("/host")}
    for key, item in items.items():
        owner = owner_of(key, hosts_of)
        if item.lease not in leases.values():
            found.append(f"{key} on lease {item.lease:x}, no live host's")
        elif owner is not None and leases.get(owner) != item.lease:
            found.append(f"{key} on lease {item.lease:x}, not {owner}'s")
    return found


def owner_of(key: str, hosts_of: dict[str, str]) -> str | None:
    """The host a key belongs to; None for a backends `port` key (shared by the hosts running the service) and
    for a traefik key other than a server (a definition shared by the hosts whose containers make it)."""
    if key.startswith(TRAEFIK + "/"):
        parts = key.split("/")
        if parts[4:6] != ["loadbalancer", "servers"] or len(parts) < 7:
            return None
        return next((host for cid, host in hosts_of.items() if cid[:12] == parts[6]), "?")
    if key.startswith(BACKENDS + "/"):
        short = key.rsplit("/", 1)[-1]
        return None if short == "port" else next((host for cid, host in hosts_of.items() if cid[:12] == short), "?")
    parts = key[len(ROOT) + 1:].split("/")
    if parts[0] in ("hosts", "agents"):
        return parts[1]
    if parts[0] == "containers":
        return hosts_of.get(parts[1], "?")
    if parts[0] == "labels":
        return hosts_of.get(parts[-1], "?")
    return parts[0]
