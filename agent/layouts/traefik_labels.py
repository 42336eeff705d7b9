"""A container's `traefik.*` labels read as Traefik's Docker provider reads them, checked field by field against
the allow-list (agent/layouts/traefik_fields.py): what is known and well typed becomes key paths, the rest is a
note naming the label and why it was skipped (labels are untrusted; one key Traefik cannot decode freezes every
host's routes)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.layouts.traefik_fields import BOOL, DURATION, FIELDS, INT, LIST

PREFIX = "traefik."
PROTOCOLS = ("http", "tcp", "udp")
KINDS = ("routers", "services", "middlewares")
SERVER = "loadbalancer.server."
SERVER_CHOICES = {"http": ("port", "scheme", "url"), "tcp": ("port",), "udp": ("port",)}  # label-only: they
# decide the server and are never written as keys
GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
            **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}  # Go's strconv.ParseBool, exactly
MAX_DURATION_NS = 2**63 - 1  # Go's time.Duration
UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}

_INT = re.compile(r"[+-]?[0-9]{1,18}")
_DURATION = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")
_SEGMENT = r"[^.\[\]/\x00-\x1f\x7f-\x9f@]+"


def _pattern(path: str) -> re.Pattern[str]:
    parts = (re.escape(part).replace(r"\[\]", r"\[[0-9]{1,3}\]").replace(r"\*", _SEGMENT)
             for part in path.split("."))
    return re.compile(r"\.".join(parts), re.IGNORECASE)


_PATTERNS = {kind: [(_pattern(path), kind_type) for path, kind_type in fields.items()]
             for kind, fields in FIELDS.items()}


def bad_name(name: str) -> bool:
    """Router, service and middleware names Traefik refuses (`@`) or that break a key (`/`, control characters)."""
    return not name or "@" in name or "/" in name or any(unicodedata.category(char)[0] == "C" for char in name)


def field_type(proto: str, kind: str, path: str) -> str | None:
    return next((kind_type for pattern, kind_type in _PATTERNS.get((proto, kind), ()) if pattern.fullmatch(path)),
                None)


def values_of(kind_type: str, value: str) -> list[tuple[tuple[str, ...], str]] | None:
    """The (sub-path, value) pairs one value becomes: a list one key per item; None when of the wrong type."""
    text = value.strip()
    if kind_type == LIST:
        items = [item.strip() for item in value.split(",") if item.strip()]
        return [((str(number),), item) for number, item in enumerate(items)] or None
    if kind_type == BOOL:
        return [((), value)] if value in GO_BOOLS else None
    if kind_type == INT:
        return [((), text)] if text.isascii() and _INT.fullmatch(text) else None
    if kind_type == DURATION:
        return [((), text)] if is_duration(text) else None
    return [((), value)]


def is_duration(text: str) -> bool:
    """What Traefik's duration type takes: whole seconds, or a Go duration (`1m30s`) within Go's range."""
    if text.isascii() and _INT.fullmatch(text):
        return abs(int(text)) * UNIT_NS["s"] <= MAX_DURATION_NS
    if not _DURATION.fullmatch(text):
        return False
    total = sum(float(number) * UNIT_NS[unit] for number, unit in _DURATION_PART.findall(text.lstrip("+-")))
    return total <= MAX_DURATION_NS


def key_path(path: str) -> tuple[str, ...]:
    """`tls.domains[0].main` -> ("tls", "domains", "0", "main")."""
    return tuple(re.sub(r"\[([0-9]+)\]", r".\1", path).split("."))


@dataclass
class Definitions:
    """What one protocol's labels define: each router, service and middleware by name, as key paths."""

    routers: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)
    services: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)
    middlewares: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)
    server_choices: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> port/scheme/url
    server_fields: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)  # service -> weight…

    def of(self, kind: str) -> dict[str, dict[tuple[str, ...], str]]:
        return {"routers": self.routers, "services": self.services, "middlewares": self.middlewares}[kind]

    def routes(self) -> bool:
        """Whether routers or services are defined (middlewares alone do not make a container tcp or udp)."""
        return bool(self.routers or self.services)


@dataclass
class ReadLabels:
    protocols: dict[str, Definitions] = field(default_factory=lambda: {proto: Definitions() for proto in PROTOCOLS})
    notes: list[str] = field(default_factory=list)

    def skip(self, label: str, why: str) -> None:
        self.notes.append(f"label {label!r} skipped: {why}")


def read_labels(labels: Mapping[str, str]) -> ReadLabels:
    """Every `traefik.<proto>.<kind>.<name>.<field>` label, in label order; `traefik.enable` and
    `traefik.docker.*` are the provider's own and read elsewhere."""
    found = ReadLabels()
    for label in sorted(labels):
        if not label.lower().startswith(PREFIX):
            continue
        rest = label[len(PREFIX):]
        if rest.lower() == "enable" or rest.lower().startswith("docker."):
            continue
        _read_one(found, label, rest.split(".", 3), labels[label])
    return found


def _read_one(found: ReadLabels, label: str, parts: list[str], value: str) -> None:
    if len(parts) < 4 or parts[0].lower() not in PROTOCOLS or parts[1].lower() not in KINDS:
        found.skip(label, "not a router, service or middleware field of Traefik's http, tcp or udp configuration")
        return
    proto, kind, name, path = parts[0].lower(), parts[1].lower(), parts[2], parts[3]
    if bad_name(name):
        found.skip(label, f"the name {name!r} has '@', '/' or a control character")
        return
    definitions = found.protocols[proto]
    lowered = path.lower()
    if kind == "services" and lowered.startswith(SERVER) and lowered[len(SERVER):] in SERVER_CHOICES[proto]:
        definitions.services.setdefault(name, {})
        definitions.server_choices.setdefault(name, {})[lowered[len(SERVER):]] = value.strip()
        return
    kind_type = field_type(proto, kind, path)
    if kind_type is None:
        found.skip(label, f"not a field of a Traefik {proto} {kind[:-1]}")
        return
    pairs = values_of(kind_type, value)
    if pairs is None:
        found.skip(label, f"expected {kind_type}, got {value[:80]!r}")
        return
    if kind == "services" and lowered.startswith(SERVER):
        target = definitions.server_fields.setdefault(name, {})
        definitions.services.setdefault(name, {})
        base = key_path(path)[2:]
    else:
        target = definitions.of(kind).setdefault(name, {})
        base = key_path(path)
    for sub, item in pairs:
        target[base + sub] = item
