"""Pure questions about one `docker inspect` dict: is it to be registered, and how to name it in logs."""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from typing import Any

Inspect = Mapping[str, Any]

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
SERVICE_NAMES = re.compile(r"SERVICE_(?:[0-9]+_)?NAME")  # SERVICE_NAME, SERVICE_<port>_NAME


def container_id(inspect: Inspect) -> str:
    return str(inspect["Id"])


def container_name(inspect: Inspect) -> str:
    name = str(inspect.get("Name") or "")
    return name[1:] if name.startswith("/") else name


def describe(inspect: Inspect) -> str:
    """`name (short id)`: how every log line names a container."""
    return f"{container_name(inspect)} ({container_id(inspect)[:12]})"


def start_order(inspect: Inspect) -> tuple[str, str]:
    """Sorts containers by when they started (RFC 3339 as the engine gives it), then by id."""
    return str((inspect.get("State") or {}).get("StartedAt") or ""), container_id(inspect)


def labels(inspect: Inspect) -> dict[str, str]:
    return dict((inspect.get("Config") or {}).get("Labels") or {})


def environment(inspect: Inspect) -> dict[str, str]:
    pairs = (item.partition("=") for item in (inspect.get("Config") or {}).get("Env") or [])
    return {name: value for name, _, value in pairs}


def service_settings(inspect: Inspect) -> dict[str, str]:
    """The container's environment and labels merged, a label winning over a variable of the same name."""
    return {**environment(inspect), **labels(inspect)}


def is_true(value: str | None) -> bool:
    """A truth value as registrator's users write it in a label or variable (`SERVICE_IGNORE`, …)."""
    return (value or "").strip().lower() in TRUE_WORDS


def is_ignored(inspect: Inspect) -> bool:
    return is_true(service_settings(inspect).get("SERVICE_IGNORE"))


def port_ignored(settings: Mapping[str, str], port: int) -> bool:
    """`SERVICE_<port>_IGNORE` set true in the container's `service_settings` (SPEC §8)."""
    return is_true(settings.get(f"SERVICE_{port}_IGNORE"))


def names_a_service(inspect: Inspect) -> bool:
    """Whether the container names a service, `SERVICE_NAME` or a `SERVICE_<port>_NAME` (label or env), as
    EC_REGISTRATOR_EXPLICIT asks (SPEC §8). An empty value names none: the layouts fall back as if it were unset."""
    return any(value and SERVICE_NAMES.fullmatch(name) for name, value in service_settings(inspect).items())


def on_host_network(inspect: Inspect) -> bool:
    return (inspect.get("HostConfig") or {}).get("NetworkMode") == "host"


def networks(inspect: Inspect) -> Mapping[str, Any]:
    """`.NetworkSettings.Networks`: the container's networks by name."""
    return (inspect.get("NetworkSettings") or {}).get("Networks") or {}


def first_network(inspect: Inspect) -> str:
    """The first of the container's networks by name, "" when it has none (SPEC §3's and §8's fallback)."""
    return min(networks(inspect), default="")


def network_address(inspect: Inspect) -> tuple[str, str]:
    """(network, address) of the container on the network its `SERVICE_NETWORK` names, else on its first network;
    the address is the IPv4 one, else the global IPv6 one, else "" (no address there)."""
    name = service_settings(inspect).get("SERVICE_NETWORK") or first_network(inspect)
    found = networks(inspect).get(name) or {}
    return name, str(found.get("IPAddress") or found.get("GlobalIPv6Address") or "")


def has_healthcheck(inspect: Inspect) -> bool:
    """Read from the configuration, not from `State.Health`: Podman reports that (with `Status: ""`) for every
    container. `["NONE"]` is Docker's `--no-healthcheck`."""
    test = ((inspect.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def health_status(inspect: Inspect) -> str | None:
    """The health of a container with a healthcheck (`starting` until its first check); None without one."""
    if not has_healthcheck(inspect):
        return None
    return str(((inspect.get("State") or {}).get("Health") or {}).get("Status") or "")


def is_registrable(inspect: Inspect) -> bool:
    """Running, not paused, healthy when it has a healthcheck, and not SERVICE_IGNOREd."""
    state = inspect.get("State") or {}
    if not state.get("Running") or state.get("Paused"):
        return False
    if health_status(inspect) not in (None, "healthy"):
        return False
    return not is_ignored(inspect)


def signal_number(text: str) -> int | None:
    """A signal as Docker or an image names it ("15", "SIGTERM", "TERM", "sigquit"); None when it names none."""
    name = text.strip().upper()
    if name.isascii() and name.isdigit():
        return int(name)
    try:
        return int(signal.Signals[name if name.startswith("SIG") else f"SIG{name}"])
    except KeyError:
        return None


def stop_signal(inspect: Inspect) -> int:
    """The signal `docker stop` sends the container first: its `Config.StopSignal`, else SIGTERM."""
    given = str((inspect.get("Config") or {}).get("StopSignal") or "")
    return signal_number(given) or int(signal.SIGTERM)


def is_leaving(stop: int, sent: str) -> bool:
    """Whether a signal sent to a container whose stop signal is `stop` tells it to go (SPEC §6): that signal,
    or SIGKILL. Any other (SIGHUP to reload, SIGUSR1…) changes nothing."""
    number = signal_number(sent)
    return number is not None and number in (stop, int(signal.SIGKILL))
