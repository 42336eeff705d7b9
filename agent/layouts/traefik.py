"""The traefik layout (SPEC §7): a container's `traefik.*` labels as the keys of Traefik v3's KV provider, with
this host's servers, so that Traefik routes to the containers of every host.

    T/<proto>/<routers|services|middlewares>/<name>/<field…>          shared by every host defining it
    T/http/services/<s>/loadbalancer/servers/<id12>/url               = <scheme>://<ip>:<port>
    T/<tcp|udp>/services/<s>/loadbalancer/servers/<id12>/address      = <ip>:<port>

`<ip>:<port>` as SPEC §8 says (agent/core/selection.py): `<ip>:<HostPort>` in the default, published mode.

T has no leading `/`: Traefik never reads `/traefik/…`."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from agent.core.container import Inspect, container_id, container_name, labels
from agent.core.selection import DEFAULT_SELECTION, Endpoint, Selection
from agent.layouts import INDEX, OWN, LayoutKind, Translation, Values
from agent.layouts.backends import SHORT_ID
from agent.layouts.selection import check_host_ip, selection_of
from agent.layouts.traefik_labels import GO_BOOLS, Definitions, read_labels
from agent.layouts.traefik_rule import DEFAULT_RULE, Model, RuleTemplate, normalize, parse_rule
from agent.settings import ConfigError, Setting, boolean

SERVERS = ("loadbalancer", "servers")
COMPOSE_SERVICE, COMPOSE_PROJECT = "com.docker.compose.service", "com.docker.compose.project"


def service_name(inspect: Inspect) -> str:
    """Traefik's name for a container's default service: compose `service-project`, else the container name."""
    found = labels(inspect)
    name = ""
    if found.get(COMPOSE_SERVICE) and found.get(COMPOSE_PROJECT):
        name = normalize(f"{found[COMPOSE_SERVICE]}_{found[COMPOSE_PROJECT]}")
    return name or normalize(container_name(inspect)) or container_id(inspect)[:SHORT_ID]


def _given(paths: dict[tuple[str, ...], str], name: str) -> bool:
    """Whether a router sets `name` (rule, service) to something; an empty value is dropped, as Traefik treats it
    as unset."""
    for path in [path for path in paths if path[0].lower() == name and len(path) == 1]:
        if paths[path]:
            return True
        del paths[path]
    return False


class TraefikLayout:
    name = "traefik"
    first_wins = True  # SPEC §7: the first registered definition keeps it

    def __init__(self, root: str, host_ip: str | None, exposed_by_default: bool, rule: RuleTemplate,
                 selection: Selection = DEFAULT_SELECTION) -> None:
        self.root = root
        self.host_ip = host_ip or ""
        self.exposed_by_default = exposed_by_default
        self.rule = rule
        self.selection = selection

    # -- a container's keys -----------------------------------------------------------------------------
    def enabled(self, inspect: Inspect) -> bool:
        value = labels(inspect).get("traefik.enable")
        if value is None:
            return self.exposed_by_default
        return GO_BOOLS.get(value, False)

    def translate(self, inspect: Inspect) -> Translation:
        if not self.enabled(inspect):
            return Translation()
        reach = self.selection.reach(inspect, self.host_ip)
        if reach.missing:
            return Translation(notes=[reach.missing])
        read = read_labels(labels(inspect))
        done = Translation(notes=read.notes)
        tcp, udp, http = (read.protocols[proto] for proto in ("tcp", "udp", "http"))
        default = service_name(inspect)
        for proto, definitions in (("tcp", tcp), ("udp", udp)):
            if definitions.routes():
                self._complete(proto, definitions, default, None, done)
                self._servers(proto, definitions, inspect, reach.endpoints, done)
        if http.routes() or http.middlewares or not (tcp.routes() or udp.routes()):
            model = Model(default, container_name(inspect), labels(inspect))
            self._complete("http", http, default, model, done)
            self._servers("http", http, inspect, reach.endpoints, done)
        for proto, definitions in (("http", http), ("tcp", tcp), ("udp", udp)):
            for kind in ("routers", "services", "middlewares"):
                for name, paths in definitions.of(kind).items():
                    for path, value in paths.items():
                        done.keys["/".join((self.root, proto, kind, name, *path))] = value
        return done

    def _complete(self, proto: str, definitions: Definitions, default: str, model: Model | None,
                  done: Translation) -> None:
        """Traefik's Docker provider's defaults: a service named after the container, a router (http) with the
        default rule when none is defined, a router without a service linked to the only service."""
        if not definitions.services:
            definitions.services[default] = {}
        if model is not None and not definitions.routers and len(definitions.services) == 1:
            definitions.routers[default] = {}
        for router, paths in list(definitions.routers.items()):
            if model is not None and not _given(paths, "rule"):
                paths[("rule",)] = self.rule.render(model)
            if not _given(paths, "rule") and proto != "udp":
                done.notes.append(f"{proto} router {router!r} skipped: its rule is empty")
                del definitions.routers[router]
                continue
            if not _given(paths, "service"):
                if len(definitions.services) != 1:
                    done.notes.append(f"{proto} router {router!r} skipped: it names no service and the container "
                                      f"defines {len(definitions.services)}")
                    del definitions.routers[router]
                    continue
                paths[("service",)] = next(iter(definitions.services))

    def _servers(self, proto: str, definitions: Definitions, inspect: Inspect, endpoints: tuple[Endpoint, ...],
                 done: Translation) -> None:
        """This host's server of each of the container's services, at the address SPEC §8 gives its port."""
        transport = "udp" if proto == "udp" else "tcp"
        addresses = {endpoint.port: endpoint.address for endpoint in endpoints if endpoint.proto == transport}
        short = container_id(inspect)[:SHORT_ID]
        for service, paths in definitions.services.items():
            choices = definitions.server_choices.get(service, {})
            server = self._server(proto, service, choices, addresses, done)
            if server is None:
                continue
            leaf = "url" if proto == "http" else "address"
            paths[(*SERVERS, short, leaf)] = server
            for path, value in definitions.server_fields.get(service, {}).items():
                paths[(*SERVERS, short, *path)] = value

    def _server(self, proto: str, service: str, choices: Mapping[str, str], addresses: Mapping[int, str | None],
                done: Translation) -> str | None:
        if proto == "http" and choices.get("url"):
            if "port" in choices or "scheme" in choices:
                done.notes.append(f"service {service!r}: no server, loadbalancer.server.url excludes .port and .scheme")
                return None
            return choices["url"]
        port = self._port(proto, service, choices.get("port"), addresses, done)
        if port is None:
            return None
        server = addresses[port]
        if server is None:
            done.notes.append(f"{proto} service {service!r}: no server, container port {port} is not published")
            return None
        return f"{choices.get('scheme') or 'http'}://{server}" if proto == "http" else server

    @staticmethod
    def _port(proto: str, service: str, chosen: str | None, addresses: Mapping[int, object],
              done: Translation) -> int | None:
        """The service's container port: its label, else the lowest one exposed (SERVICE_<port>_IGNORE's left out)."""
        if chosen is None:
            if not addresses:
                done.notes.append(f"{proto} service {service!r}: no server, the container exposes no port "
                                  "that SERVICE_<port>_IGNORE leaves in")
                return None
            return min(addresses)
        if not (chosen.isascii() and chosen.isdigit() and int(chosen) in addresses):
            done.notes.append(f"{proto} service {service!r}: no server, loadbalancer.server.port {chosen!r} is not "
                              "a port the container exposes and SERVICE_<port>_IGNORE leaves in")
            return None
        return int(chosen)

    def container_keys(self, inspect: Inspect) -> dict[str, str]:
        return self.translate(inspect).keys

    # -- what the keys are ------------------------------------------------------------------------------
    def _parts(self, key: str) -> list[str]:
        return key[len(self.root) + 1:].split("/") if key.startswith(self.root + "/") else []

    def _server_of(self, key: str) -> str | None:
        """The short container id of a server key, else None."""
        parts = self._parts(key)
        if len(parts) >= 7 and parts[1] == "services" and tuple(parts[3:5]) == SERVERS:
            return parts[5]
        return None

    def rank(self, key: str) -> int:
        return INDEX if self.shared(key) else OWN

    def shared(self, key: str) -> bool:
        return bool(self._parts(key)) and self._server_of(key) is None

    def host_prefixes(self) -> tuple[str, ...]:
        return ()  # every definition may be another host's too; servers sit beside other hosts' servers

    def _definition(self, key: str) -> str:
        """`T/<proto>/<kind>/<name>/`: the router, service or middleware a key belongs to."""
        return "/".join([self.root, *self._parts(key)[:3]]) + "/"

    def watched(self, wanted: Collection[str]) -> set[str]:
        """The routers, services and middlewares this host's containers define."""
        return {self._definition(key) for key in wanted if len(self._parts(key)) >= 4}

    def recorded(self, key: str) -> bool:
        return key.startswith(self.root + "/")

    def more_to_read(self, found: Mapping[str, str], wanted: Collection[str],
                     container_ids: Collection[str]) -> tuple[set[str], set[str]]:
        """The definition of each shared key found but no longer wanted: what else stands in it decides if the
        key may be deleted."""
        return set(), {self._definition(key) for key in found if self.shared(key) and key not in wanted}

    def owned(self, kvs: Mapping[str, str], container_ids: Collection[str]) -> set[str]:
        shorts = {cid[:SHORT_ID] for cid in container_ids}
        return {key for key in kvs if self._server_of(key) in shorts}


def traefik_root(text: str) -> str:
    parts = [part for part in text.split("/") if part]
    if text.startswith("/") or not parts or any(part in (".", "..") for part in parts):
        raise ConfigError(f"EC_REGISTRATOR_TRAEFIK_ROOT: expected a key prefix without a leading '/' such as "
                          f"'traefik' (Traefik never reads '/traefik/…'), got {text!r}")
    return "/".join(parts)


TRAEFIK_ROOT = Setting("traefik_root", "--traefik-root", "EC_REGISTRATOR_TRAEFIK_ROOT", "traefik",
                       "root of the traefik layout (Traefik's rootKey; no leading /)", traefik_root)
EXPOSED_BY_DEFAULT = Setting("traefik_exposed_by_default", "--traefik-exposed-by-default",
                             "EC_REGISTRATOR_TRAEFIK_EXPOSED_BY_DEFAULT", "false",
                             "traefik layout: every container unless traefik.enable=false",
                             lambda text: boolean("EC_REGISTRATOR_TRAEFIK_EXPOSED_BY_DEFAULT", text))
DEFAULT_RULE_SETTING = Setting("traefik_default_rule", "--traefik-default-rule", "EC_REGISTRATOR_TRAEFIK_DEFAULT_RULE",
                               DEFAULT_RULE, "traefik layout: the rule of a container's default http router",
                               lambda text: parse_rule("EC_REGISTRATOR_TRAEFIK_DEFAULT_RULE", text))


def make(values: Values, host: str) -> TraefikLayout:
    return TraefikLayout(values["traefik_root"], values["host_ip"], values["traefik_exposed_by_default"],
                         values["traefik_default_rule"], selection_of(values))


LAYOUT = LayoutKind(
    name="traefik",
    root_setting="traefik_root",
    make=make,
    settings=(TRAEFIK_ROOT, EXPOSED_BY_DEFAULT, DEFAULT_RULE_SETTING),
    check=check_host_ip,
)
