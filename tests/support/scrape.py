"""Reading a test agent's HTTP endpoint: its /metrics as a dict, and a page's status code."""

from __future__ import annotations

import re

import requests


def scrape(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    return {match[1]: float(match[2]) for match in re.finditer(r"^(\S+) (\S+)$", text, re.M)}


def status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0
