"""The settings of SPEC §8, which no one layout owns: EC_REGISTRATOR_EXPLICIT (every layout), EC_REGISTRATOR_ADDRESS
and EC_REGISTRATOR_HOST_IP (the layouts that publish addresses, backends and traefik). Declared once here; the
registry lists them after the layouts' own, and every layout is made with the one `Selection` they give."""

from __future__ import annotations

from functools import partial

from agent.core.selection import ADDRESS_MODES, PUBLISHED, Selection
from agent.layouts import Values
from agent.settings import ConfigError, Setting, boolean, choice, optional

EXPLICIT = Setting("explicit", "--explicit", "EC_REGISTRATOR_EXPLICIT", "false",
                   "true or false; true: only containers that set SERVICE_NAME or a SERVICE_<port>_NAME (label or "
                   "env) are registered, in every layout", partial(boolean, "EC_REGISTRATOR_EXPLICIT"))
ADDRESS = Setting("address", "--address", "EC_REGISTRATOR_ADDRESS", PUBLISHED,
                  "what the backends and traefik layouts publish: published (HOST_IP or the binding's address, and "
                  "the published port) or container (the container's address on its network, and the container "
                  "port)", partial(choice, "EC_REGISTRATOR_ADDRESS", ADDRESS_MODES))
HOST_IP = Setting("host_ip", "--host-ip", "EC_REGISTRATOR_HOST_IP", None,
                  "address published in the backends and traefik layouts", optional, ("HOST_IP",))

SETTINGS = (EXPLICIT, ADDRESS, HOST_IP)
ADDRESS_LAYOUTS = ("backends", "traefik")  # the layouts that publish addresses


def selection_of(values: Values) -> Selection:
    return Selection(values["explicit"], values["address"])


def check_host_ip(values: Values) -> None:
    """The layouts that publish addresses need HOST_IP in either mode: host-network containers are reached there."""
    if not values["host_ip"]:
        needing = ",".join(name for name in values["layouts"] if name in ADDRESS_LAYOUTS)
        raise ConfigError(f"EC_REGISTRATOR_HOST_IP: required by EC_REGISTRATOR_LAYOUTS={needing}: expected the "
                          "address published for ports bound to all interfaces and for host-network containers, "
                          "e.g. 10.0.0.5 (alias HOST_IP)")
