"""The ec layout of SPEC §3 written out again for the tests, from the SPEC text, not from agent code."""

from __future__ import annotations


def seg(text: str) -> str:
    return text.replace("%", "%25").replace("/", "%2F")


def expected_ec(inspect: dict, root: str, host: str) -> dict[str, str]:
    cid = inspect["Id"]
    name = inspect["Name"][1:]
    base = f"{root}/containers/{cid}"
    keys = {
        f"{base}/id": cid,
        f"{base}/created": inspect["Created"],
        f"{base}/state": inspect["State"]["Status"],
        f"{base}/image": inspect["Config"]["Image"],
        f"{base}/name": name,
        f"{base}/host": host,
        f"{root}/hosts/{seg(host)}/{seg(name)}": cid,
        f"{root}/{seg(host)}/{seg(name)}": cid,
    }
    settings = inspect["NetworkSettings"]
    ip = settings.get("IPAddress") or ""
    if not ip and settings.get("Networks"):
        ip = settings["Networks"][sorted(settings["Networks"])[0]].get("IPAddress") or ""
    keys[f"{base}/network/ip"] = ip
    for spec, bindings in (settings.get("Ports") or {}).items():
        port, proto = spec.split("/")
        block = f"{base}/network/ports/{port}-{proto.lower()}"
        first = bindings[0] if bindings else {}
        keys.update({f"{block}/intPort": port, f"{block}/extPort": first.get("HostPort", ""),
                     f"{block}/extIp": first.get("HostIp", ""), f"{block}/proto": proto.lower()})
    for label, value in (inspect["Config"].get("Labels") or {}).items():
        keys[f"{base}/labels/{seg(label)}"] = value
        keys[f"{root}/labels/{seg(label)}/{cid}"] = value
    return keys


def host_picture(inspects: list[dict], root: str, host: str) -> dict[str, str]:
    picture: dict[str, str] = {}
    for inspect in inspects:
        picture.update(expected_ec(inspect, root, host))
    return picture


def registrable(inspect: dict) -> bool:
    """SPEC §3: running, not paused, and healthy when it has a healthcheck."""
    state = inspect["State"]
    health = (state.get("Health") or {}).get("Status")
    return state["Running"] and not state["Paused"] and health in (None, "healthy")


def docker_picture(client, root: str, host: str) -> dict[str, str]:
    """What the ec layout of `host` must hold for every registrable container the daemon runs now."""
    inspects = [client.api.inspect_container(item["Id"]) for item in client.api.containers()]
    return host_picture([item for item in inspects if registrable(item)], root, host)


def etcd_picture(etcd, root: str) -> dict[str, str]:
    """Every key under `root` except the agent markers."""
    return {key: value for key, value in etcd.values(root + "/").items() if not key.startswith(f"{root}/agents/")}
