"""The ec, backends and traefik layouts of SPEC §3, §4 and §7, with the selection and addresses of §8, written out
again for the tests, from the SPEC text, not from agent code."""

from __future__ import annotations

import re


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


TRUE = ("1", "true", "yes", "on", "y", "t")  # how the agent's users write true in SERVICE_IGNORE


def user_settings(inspect: dict) -> dict[str, str]:
    """SPEC §4: the container's environment and labels merged, a label winning over a variable of the same name."""
    settings = dict(item.split("=", 1) for item in inspect["Config"].get("Env") or [] if "=" in item)
    settings.update(inspect["Config"].get("Labels") or {})
    return settings


def registrable(inspect: dict, explicit: bool = False) -> bool:
    """SPEC §3: running, not paused, and healthy when it has a healthcheck; SPEC §4: not SERVICE_IGNOREd; SPEC §8
    with EC_REGISTRATOR_EXPLICIT: it sets SERVICE_NAME or a SERVICE_<port>_NAME."""
    state = inspect["State"]
    test = (inspect["Config"].get("Healthcheck") or {}).get("Test") or ["NONE"]
    health = None if test[0] == "NONE" else (state.get("Health") or {}).get("Status")  # Podman: always a Health
    settings = user_settings(inspect)
    ignored = settings.get("SERVICE_IGNORE", "").lower() in TRUE
    named = any(value for name, value in settings.items()
                if name == "SERVICE_NAME" or re.fullmatch(r"SERVICE_\d+_NAME", name, re.ASCII))
    return state["Running"] and not state["Paused"] and health in (None, "healthy") and not ignored and (
        named or not explicit)


def docker_picture(client, root: str, host: str, explicit: bool = False) -> dict[str, str]:
    """What the ec layout of `host` must hold for every registrable container the daemon runs now."""
    inspects = [client.api.inspect_container(item["Id"]) for item in client.api.containers()]
    return host_picture([item for item in inspects if registrable(item, explicit)], root, host)


def etcd_picture(etcd, root: str) -> dict[str, str]:
    """Every key under `root` except the agent markers."""
    return {key: value for key, value in etcd.values(root + "/").items() if not key.startswith(f"{root}/agents/")}


def reachable_ports(inspect: dict, host_ip: str, address: str = "published") -> list[tuple[int, str, str | None]]:
    """SPEC §4 and §8: (container port, proto, where it is reached or None) of each port the container exposes
    that no SERVICE_<port>_IGNORE leaves out, in (port, proto) order. `published`: `<ip>:<HostPort>` of a port with a
    host binding, `<ip>` its HostIp when specific, else HOST_IP. `container`: its address on the network
    SERVICE_NETWORK names, else the first by name, and the container port, for every exposed port; with no address
    there the container is skipped (None for all). On the host's network: `<HOST_IP>:<container port>` in either
    mode. An IPv6 address is written in brackets."""
    ports = inspect["NetworkSettings"].get("Ports") or {}
    specs = set(ports) | set(inspect["Config"].get("ExposedPorts") or {})
    settings = user_settings(inspect)
    exposed = sorted((int(spec.split("/")[0]), spec.split("/")[1].lower()) for spec in specs)
    exposed = [item for item in exposed if settings.get(f"SERVICE_{item[0]}_IGNORE", "").lower() not in TRUE]
    if inspect["HostConfig"].get("NetworkMode") == "host":
        return [(port, proto, bracketed(host_ip, port)) for port, proto in exposed]
    if address == "container":
        ip = container_address(inspect)
        return [(port, proto, bracketed(ip, port) if ip else None) for port, proto in exposed]
    reached = []
    for port, proto in exposed:
        binding = (ports.get(f"{port}/{proto}") or [None])[0]
        if binding and binding.get("HostPort"):
            ip = binding["HostIp"] if binding["HostIp"] not in ("", "0.0.0.0", "::") else host_ip
            reached.append((port, proto, bracketed(ip, binding["HostPort"])))
        else:
            reached.append((port, proto, None))
    return reached


def container_address(inspect: dict) -> str | None:
    """SPEC §8: the address on the network SERVICE_NETWORK names, else on the first network by name (IPv4, else
    IPv6); None when it has none there."""
    networks = inspect["NetworkSettings"].get("Networks") or {}
    network = networks.get(user_settings(inspect).get("SERVICE_NETWORK") or min(networks, default=""), {})
    return network.get("IPAddress") or network.get("GlobalIPv6Address") or None


def bracketed(ip: str, port: int | str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def expected_backends(inspect: dict, root: str, host_ip: str, address: str = "published") -> dict[str, str]:
    """SPEC §4 written out again: per reachable port (§8), grouped by service, numbered by (port, proto)."""
    settings = user_settings(inspect)
    image = inspect["Config"]["Image"].split("@")[0].split("/")[-1].split(":")[0]
    keys, counters = {}, {}
    for port, _, reached in reachable_ports(inspect, host_ip, address):
        if reached is None:
            continue
        service = seg(settings.get(f"SERVICE_{port}_NAME") or settings.get("SERVICE_NAME") or image)
        counters[service] = counters.get(service, 0) + 1
        keys[f"{root}/{service}/{counters[service]}/{inspect['Id'][:12]}"] = reached
        keys[f"{root}/{service}/{counters[service]}/port"] = str(port)
    return keys


def backends_picture(client, root: str, host_ip: str, address: str = "published",
                     explicit: bool = False) -> dict[str, str]:
    inspects = [client.api.inspect_container(item["Id"]) for item in client.api.containers()]
    picture: dict[str, str] = {}
    for inspect in inspects:
        if registrable(inspect, explicit):
            picture.update(expected_backends(inspect, root, host_ip, address))
    return picture


# -- the traefik layout of SPEC §7, written out again from its text ---------------------------------------------
# Only what the chaos containers use is written out: http routers, services and middlewares, a rule, comma lists
# (the fields below, as SPEC §7's `entrypoints=a,b` -> `…/entrypoints/0`, `…/1`), `x[0].y` -> `x/0/y`, and the
# server fields that decide the server and are never keys. Anything else raises: it has no expectation here.
TRAEFIK_LISTS = {"entrypoints", "middlewares", "stripprefix.prefixes"}
TRAEFIK_FIELDS = {"rule", "service"} | TRAEFIK_LISTS
TRAEFIK_SERVER = {"loadbalancer.server.port", "loadbalancer.server.scheme"}  # decide the server; never written


def traefik_normalize(name: str) -> str:
    """SPEC §7 'normalized as Traefik does': runs of characters other than letters and digits become `-`."""
    return "-".join(part for part in re.split(r"[\W_]+", name) if part)


def expected_traefik(inspect: dict, root: str, host_ip: str, address: str = "published") -> dict[str, str]:
    """SPEC §7 for one registrable container that is not a compose one: its servers and the definitions its
    labels make (routers, services, middlewares), with the defaults of Traefik's Docker provider; skipped when,
    in container mode, it has no address (SPEC §8)."""
    labels = inspect["Config"].get("Labels") or {}
    if labels.get("traefik.enable") != "true":
        return {}
    on_host = inspect["HostConfig"].get("NetworkMode") == "host"
    if address == "container" and not on_host and container_address(inspect) is None:
        return {}
    reached = {port: where for port, proto, where in reachable_ports(inspect, host_ip, address) if proto == "tcp"}
    definitions: dict[tuple[str, str], dict[str, str]] = {}  # (kind, name) -> {field path: value}
    for label, value in labels.items():
        if not label.startswith("traefik.") or label == "traefik.enable":
            continue
        _, proto, kind, name, field = label.split(".", 4)
        if proto != "http" or kind not in ("routers", "services", "middlewares"):
            raise ValueError(f"no expectation written for {label}")
        definitions.setdefault((kind, name), {})[re.sub(r"\[(\d+)\]", r".\1", field)] = value
    services = [name for kind, name in definitions if kind == "services"]
    if not services:  # a container that names no service gets one named after it
        services = [traefik_normalize(inspect["Name"][1:])]
        definitions[("services", services[0])] = {}
    if not any(kind == "routers" for kind, _ in definitions) and len(services) <= 1:
        definitions[("routers", traefik_normalize(inspect["Name"][1:]))] = {
            "rule": f"Host(`{traefik_normalize(inspect['Name'][1:])}`)"}
    for (kind, _), fields in definitions.items():
        if kind == "routers" and "service" not in fields and len(services) == 1:
            fields["service"] = services[0]  # a router without a service: the container's only service
    keys: dict[str, str] = {}
    for (kind, name), fields in definitions.items():
        for field, value in fields.items():
            if kind == "services" and field in TRAEFIK_SERVER:
                continue
            if field not in TRAEFIK_FIELDS:
                raise ValueError(f"no expectation written for {kind} field {field}")
            path = f"{root}/http/{kind}/{name}/{field.replace('.', '/')}"
            if field in TRAEFIK_LISTS:
                keys.update({f"{path}/{index}": item for index, item in enumerate(value.split(","))})
            else:
                keys[path] = value
    for service in services:
        server = traefik_server(definitions[("services", service)], reached)
        if server is not None:
            keys[f"{root}/http/services/{service}/loadbalancer/servers/{inspect['Id'][:12]}/url"] = server
    return keys


def traefik_server(settings: dict[str, str], reached: dict[int, str | None]) -> str | None:
    """`<scheme>://<address>` of the service's container port (its `loadbalancer.server.port`, else the lowest tcp
    port the container exposes and does not ignore), None when that port is not reached; `reached` as SPEC §8."""
    port = settings.get("loadbalancer.server.port") or (str(min(reached)) if reached else None)
    where = reached.get(int(port)) if port else None
    return f"{settings.get('loadbalancer.server.scheme', 'http')}://{where}" if where else None


def traefik_picture(client, root: str, host_ip: str, address: str = "published",
                    explicit: bool = False) -> dict[str, str]:
    """What the traefik layout must hold for the registrable containers of one engine; the definitions several
    hosts share are equal when their containers define them alike, so the union over hosts is the whole."""
    picture: dict[str, str] = {}
    for item in client.api.containers():
        inspect = client.api.inspect_container(item["Id"])
        if registrable(inspect, explicit):
            picture.update(expected_traefik(inspect, root, host_ip, address))
    return picture
