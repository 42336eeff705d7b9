"""EC_REGISTRATOR_TRAEFIK_DEFAULT_RULE: the part of Go's text/template Traefik's default rule is written in.

Traefik offers its default rule `.Name` (the service name), `.ContainerName`, `index .Labels "key"` and
`normalize`; that is what is accepted here, in `{{ … }}` actions, with `(…)` around an argument. Anything else is
a configuration error at start, never a rule Traefik would refuse later."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from agent.settings import ConfigError

DEFAULT_RULE = "Host(`{{ normalize .Name }}`)"

_ACTION = re.compile(r"\{\{(- )?\s*(.*?)\s*( -)?\}\}", re.DOTALL)
_INDEX = re.compile(r'index\s+\.Labels\s+"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Model:
    """What a default rule may name: the service name, the container name, the labels."""

    name: str
    container_name: str
    labels: Mapping[str, str]


def normalize(text: str) -> str:
    """Traefik's `normalize`: every run of characters that are neither letters nor digits becomes one `-`, none
    at either end."""
    kept = "".join(char if unicodedata.category(char)[0] in "LN" else " " for char in text)
    return "-".join(kept.split())


def _argument(text: str) -> tuple[str, str]:
    """("name" | "container" | "label", label key) of one argument."""
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        return _argument(text[1:-1])
    if text == ".Name":
        return "name", ""
    if text == ".ContainerName":
        return "container", ""
    match = _INDEX.fullmatch(text)
    if match:
        return "label", re.sub(r"\\(.)", r"\1", match.group(1))
    raise ValueError(text)


@dataclass(frozen=True)
class Action:
    normalized: bool
    source: str
    key: str = ""

    def render(self, model: Model) -> str:
        value = {"name": model.name, "container": model.container_name}.get(self.source)
        if value is None:
            value = model.labels.get(self.key, "")
        return normalize(value) if self.normalized else value


def _action(text: str) -> Action:
    if text.startswith("normalize ") or text.startswith("normalize("):
        return Action(True, *_argument(text[len("normalize"):]))
    return Action(False, *_argument(text))


@dataclass(frozen=True)
class RuleTemplate:
    parts: tuple[str | Action, ...]

    def render(self, model: Model) -> str:
        return "".join(part if isinstance(part, str) else part.render(model) for part in self.parts)


def parse_rule(name: str, text: str) -> RuleTemplate:
    parts: list[str | Action] = []
    end = 0
    for match in _ACTION.finditer(text):
        before = text[end:match.start()]
        parts.append(before.rstrip() if match.group(1) else before)  # `{{- ` trims the space before it, as in Go
        try:
            parts.append(_action(match.group(2)))
        except ValueError:
            raise ConfigError(f"{name}: expected a rule whose {{{{ }}}} use .Name, .ContainerName, index .Labels \"k\" "
                              f"or normalize, got {match.group(0)!r}") from None
        end = match.end()
        if match.group(3):  # ` -}}` trims the space after it
            end += len(text[end:]) - len(text[end:].lstrip())
    rest = text[end:]
    if "{{" in rest or "}}" in rest or not text.strip():
        raise ConfigError(f"{name}: expected a rule such as {DEFAULT_RULE}, got {text!r}")
    parts.append(rest)
    return RuleTemplate(tuple(part for part in parts if part != ""))
