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
    """SPEC §3: running, not paused, and healthy when it has a healthcheck; SPEC §4: not SERVICE_IGNOREd."""
    state = inspect["State"]
    test = (inspect["Config"].get("Healthcheck") or {}).get("Test") or ["NONE"]
    health = None if test[0] == "NONE" else (state.get("Health") or {}).get("Status")  # Podman: always a Health
    settings = [item for item in inspect["Config"].get("Env") or [] if item.startswith("SERVICE_IGNORE=")]
    settings += [f"SERVICE_IGNORE={value}" for key, value in (inspect["Config"].get("Labels") or {}).items()
                 if key == "SERVICE_IGNORE"]
    ignored = bool(settings) and settings[-1].split("=", 1)[1].lower() in ("1", "true", "yes", "on", "y", "t")
    return state["Running"] and not state["Paused"] and health in (None, "healthy") and not ignored


def docker_picture(client, root: str, host: str) -> dict[str, str]:
    """What the ec layout of `host` must hold for every registrable container the daemon runs now."""
    inspects = [client.api.inspect_container(item["Id"]) for item in client.api.containers()]
    return host_picture([item for item in inspects if registrable(item)], root, host)


def etcd_picture(etcd, root: str) -> dict[str, str]:
    """Every key under `root` except the agent markers."""
    return {key: value for key, value in etcd.values(root + "/").items() if not key.startswith(f"{root}/agents/")}


def expected_backends(inspect: dict, root: str, host_ip: str) -> dict[str, str]:
    """SPEC §4 written out again: per published port, grouped by service, numbered by (port, proto)."""
    settings = {item.split("=", 1)[0]: item.split("=", 1)[1] for item in inspect["Config"].get("Env") or []}
    settings.update(inspect["Config"].get("Labels") or {})
    image = inspect["Config"]["Image"].split("@")[0].split("/")[-1].split(":")[0]
    published = sorted((int(spec.split("/")[0]), spec.split("/")[1], bindings[0])
                       for spec, bindings in (inspect["NetworkSettings"].get("Ports") or {}).items() if bindings)
    keys, counters = {}, {}
    for port, _, binding in published:
        service = seg(settings.get(f"SERVICE_{port}_NAME") or settings.get("SERVICE_NAME") or image)
        counters[service] = counters.get(service, 0) + 1
        ip = binding["HostIp"] if binding["HostIp"] not in ("", "0.0.0.0", "::") else host_ip
        keys[f"{root}/{service}/{counters[service]}/{inspect['Id'][:12]}"] = f"{ip}:{binding['HostPort']}"
        keys[f"{root}/{service}/{counters[service]}/port"] = str(port)
    return keys


def backends_picture(client, root: str, host_ip: str) -> dict[str, str]:
    inspects = [client.api.inspect_container(item["Id"]) for item in client.api.containers()]
    picture: dict[str, str] = {}
    for inspect in inspects:
        if registrable(inspect):
            picture.update(expected_backends(inspect, root, host_ip))
    return picture
