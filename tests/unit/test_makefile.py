"""`make help` lists every target with one line each (issue 24: there was no `make help`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def phony_targets() -> set[str]:
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    declared = re.search(r"^\.PHONY:(.*)$", text, re.M)
    assert declared, "the Makefile declares its targets in .PHONY"
    return set(declared.group(1).split())


def test_make_help_lists_every_target_once_with_a_line():
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True,
                           timeout=30, check=True).stdout.splitlines()
    names = [line.split()[0] for line in shown]
    assert sorted(names) == sorted(phony_targets())
    assert all(len(line.split(maxsplit=1)) == 2 for line in shown), shown
