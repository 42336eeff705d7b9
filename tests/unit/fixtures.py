"""Recorded `docker inspect` output (tests/fixtures, made by tests/support/record_fixtures.py)."""

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def inspect(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())
