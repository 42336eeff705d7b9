"""`status --serve`: the registry's web page in a real browser (Debian's chromium, driven by selenium) against a
real etcd written by a real agent on the private dockerd. The page shows a container within 1 s of its keys
being written and drops it within 1 s of their removal, without a reload; a planted anomaly is highlighted on its
host's row and listed; names planted with markup stay text (no script runs, no element is made of them); the
search narrows the rows. Bound to loopback, it refuses a request naming another host (DNS rebinding)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.agents import REPO
from tests.support.etcdclient import EtcdClient
from tests.support.servers import EtcdMember, free_port
from tests.support.statuspage import first_snapshot, headless_chromium, host_rows, serve_command, serve_environment
from tests.support.waiting import wait_until

HOSTILE = '<img src=x onerror="window.pwned=1"><svg onload="window.pwned=2">'  # no /: one key segment
PAGE_LATENCY = 1.0  # seconds from etcd to the page (issue 25)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = headless_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def pages(tmp_path: Path, root: str) -> Iterator[Callable[[str], str]]:
    """Starts `status --serve` on a free loopback port for the test's roots and an etcd; each is stopped with
    SIGTERM at the end (exit 0 expected; SIGKILL if it hangs)."""
    started: list[subprocess.Popen] = []

    def start(etcd_url: str) -> str:
        port = free_port()
        command = serve_command(etcd_url, port, root, "--traefik-root", root.strip("/") + "-t")
        with open(tmp_path / f"serve-{len(started)}.log", "wb") as log:
            started.append(subprocess.Popen(command, cwd=REPO, env=serve_environment(), stdout=log,
                                            stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: first_snapshot(url), timeout=20, what="status --serve answering")
        return url

    try:
        yield start
    finally:
        for number, process in enumerate(started):
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(10) == 0, (tmp_path / f"serve-{number}.log").read_text()
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)


@pytest.fixture
def web(pages: Callable[[str], str], etcd_server: EtcdMember) -> str:
    return pages(etcd_server.url)


def rows_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "rows").text


def anomaly_kinds(driver: WebDriver) -> set[str]:
    return set(driver.execute_script(
        "return Array.from(document.querySelectorAll('tr.anomaly'), r => r.firstElementChild.textContent)"))


def test_the_page_follows_containers_without_a_reload(agents, containers, etcd, root, web, browser):
    agent = agents.start("web-host", root, LAYOUTS="ec,backends", BACKENDS_DIR=root + "-b", HOST_IP="10.40.0.1")
    agent.wait_running(etcd)
    browser.get(web)
    wait_until(lambda: "web-host" in rows_text(browser), timeout=10, what="the agent's host on the page")

    name = f"sr-web-{uuid.uuid4().hex[:8]}"
    container = containers.run(name=name, labels={"SERVICE_NAME": "webview"}, ports={"80/tcp": None})
    started = time.monotonic()  # docker's start answered: the container runs
    index_key = f"{root}/hosts/web-host/{name}"
    wait_until(lambda: name in rows_text(browser), timeout=PAGE_LATENCY, what=f"{name} on the page within 1 s")
    shown = time.monotonic()
    assert etcd.get(index_key) is not None

    browser.find_element(By.CSS_SELECTOR, ".tab[data-tab='services']").click()
    wait_until(lambda: "webview" in rows_text(browser) and "10.40.0.1:" in rows_text(browser), timeout=5,
               what="the service with its backend on the services tab")
    browser.find_element(By.CSS_SELECTOR, ".tab[data-tab='hosts']").click()
    wait_until(lambda: name in rows_text(browser), timeout=5, what="back on the hosts tab")

    container.remove(force=True)
    removed = time.monotonic()
    wait_until(lambda: name not in rows_text(browser), timeout=PAGE_LATENCY, what=f"{name} off the page within 1 s")
    dropped = time.monotonic()
    assert etcd.get(index_key) is None
    print(f"start -> shown {shown - started:.3f}s; removal -> dropped {dropped - removed:.3f}s")


def test_anomalies_are_highlighted_and_names_stay_text(etcd, root, web, browser):
    browser.get(web)
    wait_until(lambda: browser.find_element(By.ID, "pages").text.startswith("page 1"), timeout=10, what="first view")
    ghost = "ghost-" + uuid.uuid4().hex[:6]
    etcd.put(f"{root}/hosts/{ghost}/{HOSTILE}", "f" * 64)  # a host with no marker naming a missing container
    etcd.put(f"{root}/hosts/{HOSTILE}/web", "e" * 64)  # a hostile host name

    wait_until(lambda: "anomalous" in host_rows(browser).get(ghost, ""), timeout=PAGE_LATENCY,
               what="the ghost host highlighted")
    assert HOSTILE in rows_text(browser)  # the markup, as text
    assert HOSTILE in host_rows(browser), "the hostile host has a row of its own"
    assert browser.find_elements(By.CSS_SELECTOR, "#rows img, #rows svg, #rows script") == []
    assert browser.execute_script("return typeof window.pwned") == "undefined"

    browser.find_element(By.CSS_SELECTOR, ".tab[data-tab='anomalies']").click()
    wait_until(lambda: "dangling-index" in rows_text(browser), timeout=5, what="the anomalies listed")
    kinds = anomaly_kinds(browser)
    assert {"no-marker", "dangling-index", "unleased"} <= kinds, kinds
    assert "alarm" in browser.find_element(By.ID, "count-anomalies").get_attribute("class")

    browser.find_element(By.CSS_SELECTOR, ".tab[data-tab='hosts']").click()
    browser.find_element(By.ID, "search").send_keys(ghost)
    wait_until(lambda: list(host_rows(browser)) == [ghost], timeout=5, what="the search narrowing the hosts")
    assert browser.execute_script("return typeof window.pwned") == "undefined"


def test_it_is_read_only_and_refuses_other_host_names(web):
    assert requests.post(web + "api/view", timeout=5).status_code == 405
    assert requests.get(web, headers={"Host": "attacker.example:9481"}, timeout=5).status_code == 403
    page = requests.get(web, timeout=5)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert requests.get(web + "nothing", timeout=5).status_code == 404


def test_etcd_killed_and_back_with_a_compaction_the_page_says_so_then_follows_again(own_etcd, pages, root,
                                                                                  browser):
    etcd = EtcdClient(own_etcd.url)
    etcd.put(f"{root}/hosts/before/web", "a" * 64)
    browser.get(pages(own_etcd.url))
    wait_until(lambda: "before" in host_rows(browser), timeout=10, what="the host on the page")

    own_etcd.kill()
    problem = browser.find_element(By.ID, "problem")
    wait_until(lambda: problem.is_displayed() and "etcd" in problem.text, timeout=15, what="the page saying so")
    assert "before" in host_rows(browser), "the last registry shown stays"

    own_etcd.start(f"{own_etcd.name}={own_etcd.peer_url}")
    own_etcd.wait_ready()
    etcd.put(f"{root}/hosts/after/web", "b" * 64)
    etcd.post("kv/compaction", {"revision": str(etcd.revision())})  # the watches may have to read everything again
    wait_until(lambda: "after" in host_rows(browser), timeout=15, what="a host added after etcd's return")
    wait_until(lambda: not problem.is_displayed(), timeout=15, what="the warning gone")
    assert "before" in host_rows(browser)


def test_a_taken_address_is_one_line_and_exit_1(etcd_server):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(serve_command(etcd_server.url, port, "/registry"), cwd=REPO, capture_output=True,
                              text=True, timeout=30, env=serve_environment())
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"service-registrator status: cannot listen on 127.0.0.1:{port}: "
                                        "Address already in use"], done.stderr
