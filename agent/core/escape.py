"""Escaping of path segments built from container data (SPEC §3): only `%` and `/` are escaped."""

import re

_ESCAPED = re.compile("%25|%2F")
_UNESCAPE = {"%25": "%", "%2F": "/"}


def escape_segment(text: str) -> str:
    return text.replace("%", "%25").replace("/", "%2F")


def unescape_segment(segment: str) -> str:
    if "%" not in segment:  # nearly every segment: no escape to undo (status reads tens of thousands)
        return segment
    return _ESCAPED.sub(lambda match: _UNESCAPE[match.group(0)], segment)
