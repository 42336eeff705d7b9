"""The reads of `status --host` and `status --service`: bounded by the host or the service, never the fleet."""

from __future__ import annotations

from agent.adapters.etcd import Etcd
from agent.core.escape import escape_segment
from agent.core.layout import Layout
from agent.core.marker import MARKERS, StoredMarker, segment_marker_key
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import EcLayout
from agent.layouts.traefik import TraefikLayout
from agent.layouts.traefik_rule import DEFAULT_RULE, parse_rule
from agent.runtime.hostkeys import read_host_keys
from agent.status.read import Range, marker_lease_infos, paged
from agent.status.registry import PROTOCOLS, Registry
from agent.status.report import Report, report_of
from agent.status.settings import StatusConfig
from agent.status.views import ServiceReport, host_view, own_keys, routers_of, service_report


def host_layouts(config: StatusConfig) -> list[Layout]:
    """The layouts as a reader of the host's keys needs them: their roots (what a host writes into them, its
    address and rule, plays no part in what is read)."""
    rule = parse_rule("EC_REGISTRATOR_TRAEFIK_DEFAULT_RULE", DEFAULT_RULE)
    return [EcLayout(config.etcd_dir, config.name), BackendsLayout(config.backends_dir, ""),
            TraefikLayout(config.traefik_root, "", False, rule)]


def read_host_report(etcd: Etcd, config: StatusConfig) -> Report:
    """One host's report, read as its agent reads its own keys (agent/runtime/hostkeys.py): the keys on the
    lease its marker is on, its host-scoped prefixes, what those lead to, and the shared groups beside them."""
    marker_key = segment_marker_key(config.etcd_dir, escape_segment(config.name))
    found, _ = etcd.read(keys=[marker_key])
    marker = found[0] if found else None
    lease = marker.lease if marker else 0
    on_lease = etcd.lease_info(lease, keys=True).keys if lease else ()
    kvs, revision = read_host_keys(etcd, host_layouts(config), marker_key, on_lease, (), ())
    registry = Registry.of(config.etcd_dir, config.backends_dir, config.traefik_root, kvs)
    report = report_of(registry, marker_lease_infos(etcd, registry), revision)
    recorded = StoredMarker.decode(marker.value).keys if marker else ()
    return host_view(report, registry, config.name, own_keys(kvs, lease, config.etcd_dir, {*recorded, marker_key}))


def read_service_report(etcd: Etcd, config: StatusConfig) -> ServiceReport:
    """One service, at one revision: its backends group `B/<S>/`, its traefik service `T/<proto>/services/<S>/`,
    the routers naming it (every router's keys are paged through, the `service` ones kept; then those routers
    read), and the markers, which tell whose lease is whose."""
    service, size, markers_at = config.name, config.page_size, f"{config.etcd_dir}/{MARKERS}/"
    wanted = [Range(markers_at), Range(f"{config.backends_dir}/{service}/"),
              *(Range(f"{config.traefik_root}/{proto}/services/{service}/") for proto in PROTOCOLS)]
    kept, revision = [], 0
    for page, at in paged(etcd, wanted, size):
        kept += page
        revision = at
    named: set[str] = set()
    for page, _ in paged(etcd, [Range(f"{config.traefik_root}/{proto}/routers/") for proto in PROTOCOLS], size,
                         revision):
        named |= routers_of(service, page)
    for page, _ in paged(etcd, [Range(router) for router in sorted(named)], size, revision):
        kept += page
    markers = [kv for kv in kept if kv.key.startswith(markers_at)]
    rest = [kv for kv in kept if not kv.key.startswith(markers_at)]
    return service_report(service, markers, rest, revision, config.backends_dir)
