"""haproxy as `discover`'s child, in master-worker mode: a configuration is checked (`haproxy -c`) before it is
written (atomically), and a reload is a SIGUSR2 to the master, whose new workers take the listening sockets
over from the old ones (no refused connection), while the old ones finish their connections.

The master's CLI (`-S`) tells how a reload went: its reload count grows once the master has re-executed, and
its failed count (reloads failed in a row) is not 0 when the new configuration could not be loaded (a port
already taken, say): the old workers then keep serving."""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import gevent

log = logging.getLogger(__name__)
output_log = logging.getLogger("haproxy")

START_TIMEOUT = 10.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
POLL = 0.02
PR_SET_PDEATHSIG = 1
_MASTER_LINE = re.compile(r"^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.MULTILINE)
_TAGGED = re.compile(r"^\[(ALERT|WARNING|NOTICE)\]\s*(?:\(\d+\))?\s*:\s*(.*)$")
LEVELS = {"ALERT": logging.ERROR, "WARNING": logging.WARNING, "NOTICE": logging.INFO}
RECENT = 10
REASON_LENGTH = 500
# What haproxy 2.6 says, tagged WARNING or ALERT, on every ordinary reload (the old worker's proxies stopping, the
# old worker leaving) and on a stop we asked for: information, not a warning.
ORDINARY = re.compile(r"Proxy \S+ stopped \(cumulated conns|Former worker \(\d+\) exited with code 0 ")
ORDINARY_AT_STOP = re.compile(r"Exiting Master process|Current worker \(\d+\) exited with code 143 |"
                              r"All workers exited\. Exiting\.\.\. \(0\)")


class HaproxyError(Exception):
    """haproxy did not start, stopped, or did not answer on its master socket in time."""


@dataclass(frozen=True)
class Reloads:
    """The master's counters: reloads done, and how many of the last ones failed in a row (0 after a success)."""

    done: int
    failed: int


def refusal(output: str) -> str:
    """The reason in `haproxy -c`'s output, on one line: its ALERT lines, else its last line."""
    alerts = [tagged.group(2) for tagged in map(_TAGGED.match, output.splitlines()) if tagged and tagged[1] == "ALERT"]
    lines = alerts or [line for line in output.splitlines() if line.strip()][-1:] or ["no reason given"]
    return "; ".join(line.strip() for line in lines)[:REASON_LENGTH]


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when discover dies, even by SIGKILL, so no haproxy is left holding the
    ports (Linux prctl PR_SET_PDEATHSIG; a re-executing master keeps it)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Output:
    """haproxy's own lines (master and workers share one pipe), logged as ours under the logger `haproxy` at the
    level of their tag; the recent ALERT lines are kept as the reason of a failed reload."""

    def __init__(self) -> None:
        self.alerts = 0  # ALERT lines seen
        self.recent: list[str] = []  # the last RECENT of them
        self.stopping = False  # we asked haproxy to stop: its workers' exit is expected

    def relay(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            tagged = _TAGGED.match(line)
            tag, text = (tagged.group(1), tagged.group(2)) if tagged else ("NOTICE", line)
            if ORDINARY.match(text) or (self.stopping and ORDINARY_AT_STOP.match(text)):
                tag = "NOTICE"
            if tag == "ALERT":
                self.alerts += 1
                self.recent = [*self.recent, text][-RECENT:]
            if text:
                output_log.log(LEVELS.get(tag, logging.INFO), "%s", text)


class Haproxy:
    def __init__(self, binary: str, config_path: str) -> None:
        self.binary = binary
        self.config_path = config_path
        self.master_socket = config_path + ".sock"
        self.listeners_socket = config_path + ".xfer"  # the workers' stats socket the listeners go over
        self.process: subprocess.Popen | None = None
        self._output = Output()
        self._relay: gevent.Greenlet | None = None

    def version(self) -> str:
        reply = subprocess.run([self.binary, "-v"], capture_output=True, text=True, timeout=START_TIMEOUT)
        return (reply.stdout.splitlines() or ["?"])[0]

    def check(self, text: str) -> str | None:
        """None when haproxy accepts `text` as a configuration, else its reason (one line)."""
        with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(self.config_path), prefix=".check-",
                                         suffix=".cfg", encoding="utf-8") as candidate:
            candidate.write(text)
            candidate.flush()
            reply = subprocess.run([self.binary, "-c", "-q", "-f", candidate.name], capture_output=True, text=True,
                                   timeout=START_TIMEOUT)
        return None if reply.returncode == 0 else refusal(reply.stderr + reply.stdout)

    def install(self, text: str) -> None:
        """Write `text` as the configuration, atomically: haproxy never reads half a file."""
        folder = os.path.dirname(self.config_path)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".haproxy-", suffix=".cfg")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.config_path)
        except BaseException:
            os.unlink(temporary)
            raise

    def start(self) -> None:
        """Start the master on the installed configuration; returns once its CLI answers."""
        if os.path.exists(self.master_socket):
            os.unlink(self.master_socket)
        # a process group of its own: Ctrl-C on a terminal reaches discover alone, which stops haproxy as it asks
        # (its workers would otherwise exit "with code 130 (Interrupt)", an ALERT, on every Ctrl-C)
        self.process = subprocess.Popen([self.binary, "-W", "-db", "-S", self.master_socket, "-f", self.config_path],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent, process_group=0)
        assert self.process.stdout is not None
        self._relay = gevent.spawn(self._output.relay, self.process.stdout)
        self._wait_reloads(lambda reloads: True, START_TIMEOUT, "start")
        log.info("haproxy started (master pid %d), configuration %s", self.process.pid, self.config_path)

    def reload(self) -> str | None:
        """Have the master load the installed configuration: None when it did, else why not, from its ALERT
        lines (the old workers keep serving)."""
        before, alerts = self.reloads(), self._output.alerts
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR2)
        after = self._wait_reloads(lambda reloads: reloads.done > before.done, RELOAD_TIMEOUT, "reload")
        if after.failed == 0:
            return None
        gevent.sleep(POLL)  # the master's last lines may still be on their way
        new = self._output.alerts - alerts
        return "; ".join(self._output.recent[-new:] if new else ["no reason given"])[:REASON_LENGTH]

    def disable(self, servers: list[tuple[str, str]]) -> None:
        """Take servers (proxy, server) out of rotation at once through the workers' runtime API: no new
        connection goes to them, those open finish. The reload that follows removes them for good; when this
        fails (no worker answers), that reload still does."""
        commands = ";".join(f"disable server {proxy}/{server}" for proxy, server in servers)
        try:
            self._ask(commands, self.listeners_socket)
        except OSError as exc:
            log.debug("cannot take %d servers out before the reload: %s", len(servers), exc)

    def reloads(self) -> Reloads:
        """The master's counters, from `show proc` on its CLI."""
        found = _MASTER_LINE.search(self._ask("show proc"))
        if found is None:
            raise HaproxyError("haproxy's master CLI did not list the master")
        return Reloads(int(found.group(1)), int(found.group(2)))

    def wait(self) -> int:
        """Block until the master exits; its status."""
        assert self.process is not None
        return self.process.wait()

    def stop(self) -> int | None:
        """Stop the master and its workers (SIGTERM; SIGKILL after STOP_TIMEOUT); the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self._output.stopping = True
        self.process.terminate()
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(STOP_TIMEOUT)
        finally:
            self._relay.join(timeout=1)

    def _wait_reloads(self, done: Callable[[Reloads], bool], timeout: float, what: str) -> Reloads:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise HaproxyError(f"haproxy exited with status {self.process.returncode} during {what}")
            try:
                reloads = self.reloads()
                if done(reloads):
                    return reloads
            except (OSError, HaproxyError):
                pass  # the master re-executes: its CLI is away for a moment
            if time.monotonic() > deadline:
                raise HaproxyError(f"haproxy's master did not answer within {timeout:g}s of its {what}")
            gevent.sleep(POLL)

    def _ask(self, command: str, path: str | None = None) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(2.0)
            client.connect(path or self.master_socket)
            client.sendall(command.encode() + b"\n")
            client.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")
