"""`status --serve` for the tests and the bench: its command line, a headless chromium to look at its page, and
what they read of the page (the page redraws its rows as etcd changes: read in one script, never element by
element)."""

from __future__ import annotations

import os
import sys

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.agents import REPO


def serve_command(etcd_url: str, port: int, root: str, *extra: str) -> list[str]:
    """`status --serve` on 127.0.0.1:`port` for the ec root `root` and the backends root `root-b`."""
    return [sys.executable, "-m", "agent", "status", "--serve", f"127.0.0.1:{port}", "--etcd-hosts",
            etcd_url.replace("http://", ""), "--etcd-dir", root, "--backends-dir", root + "-b", *extra]


def serve_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EC_", "ETCD_", "HOST_IP"))}
    return {**env, "PYTHONPATH": str(REPO)}


def first_snapshot(page: str) -> bool:
    """The page's server has read the registry (its first snapshot is out)."""
    try:
        return requests.get(page + "api/view", timeout=30).json()["version"] > 0
    except (requests.RequestException, ValueError):
        return False


def headless_chromium() -> WebDriver:
    """Debian's chromium, driven by its chromedriver, 1400 x 900."""
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def host_rows(driver: WebDriver) -> dict[str, str]:
    """Each host row's host and classes, in the order shown."""
    return driver.execute_script("return Object.fromEntries(Array.from(document.querySelectorAll('tr.host'), "
                                 "r => [r.dataset.host, r.className]))")
