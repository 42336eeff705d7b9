"""A simulated Docker Engine API on a unix socket, for the fleet benchmark only (never for the tests).

It answers what docker-py's `APIClient(version="auto")` asks for when the agent lists, inspects and follows
events: `GET /_ping`, `/version`, `/info`, `/containers/json`, `/containers/{id}/json` and `/events`
(chunked, one JSON object per line, `since` replayed, `filters` on type/event/container, kept open). Any
`/vX.Y/` prefix is accepted. Inspect output is made from the recorded inspect fixtures (tests/fixtures):
each synthetic container gets a fresh 64-hex id, the name `/<host>-c<n>`, an address of its own and a
running state. Containers can be started and stopped at runtime (`start` / `die` events).

    python -m bench.fakedocker        # self-check: docker-py lists, inspects and follows events through it
"""

from __future__ import annotations

import datetime
import json
import os
import queue
import re
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.unit.fixtures import inspect as fixture

API_VERSION = "1.41"
ENGINE_VERSION = "20.10.24-simulated"
# Fixtures of registrable containers (running, no healthcheck, not SERVICE_IGNOREd): 9 to 21 keys each.
TEMPLATES = ("published_tcp_udp", "no_ports", "three_ports", "service_named", "exposed_unpublished",
             "bound_address")
VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")
INSPECT_PATH = re.compile(r"^/containers/([^/]+)/json$")
WAIT_SLICE = 1.0  # an event stream checks this often whether its server is stopping

_templates: list[dict[str, Any]] = []


def templates() -> list[dict[str, Any]]:
    """The recorded inspect dicts synthetic containers are made from (read once)."""
    if not _templates:
        _templates.extend(fixture(name) for name in TEMPLATES)
    return _templates


def new_id() -> str:
    return os.urandom(32).hex()


def now_text() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def synthetic_inspect(template: dict[str, Any], cid: str, name: str, number: int) -> dict[str, Any]:
    """A running container's inspect dict from `template`, sharing what it does not change (never mutate it)."""
    started = now_text()
    address = f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
    settings = template["NetworkSettings"]
    networks = {net: {**data, "IPAddress": address} for net, data in (settings.get("Networks") or {}).items()}
    return {
        **template, "Id": cid, "Name": f"/{name}", "Created": started,
        "State": {**template["State"], "Running": True, "Paused": False, "Restarting": False, "Dead": False,
                  "Status": "running", "StartedAt": started, "Pid": 10_000 + number},
        "Config": {**template["Config"], "Hostname": cid[:12]},
        "NetworkSettings": {**settings, "IPAddress": address if settings.get("IPAddress") else "",
                            "Networks": networks},
    }


def container_event(action: str, inspect: dict[str, Any]) -> dict[str, Any]:
    """A Docker container event, as the daemon writes it on /events."""
    stamp = time.time_ns()
    image = inspect["Config"]["Image"]
    attributes = {**(inspect["Config"].get("Labels") or {}), "image": image, "name": inspect["Name"][1:]}
    if action == "die":
        attributes["exitCode"] = "137"
    return {"status": action, "id": inspect["Id"], "from": image, "Type": "container", "Action": action,
            "Actor": {"ID": inspect["Id"], "Attributes": attributes}, "scope": "local",
            "time": stamp // 1_000_000_000, "timeNano": stamp}


class Engine:
    """The simulated daemon's state: containers and the event log. Thread-safe."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._changed = threading.Condition()
        self._running: dict[str, dict[str, Any]] = {}
        self._stopped: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._serial = 0
        self.closed = False

    def start_container(self) -> str:
        """Start a new synthetic container; emits `start`. Returns its id."""
        with self._changed:
            number, self._serial = self._serial, self._serial + 1
            pattern = templates()[number % len(templates())]
            data = synthetic_inspect(pattern, new_id(), f"{self.host}-c{number}", number)
            self._running[data["Id"]] = data
            self._emit(container_event("start", data))
            return data["Id"]

    def stop_container(self, cid: str) -> None:
        """Stop a running container (it stays inspectable, exited); emits `die`."""
        with self._changed:
            data = self._running.pop(cid)
            state = {**data["State"], "Running": False, "Status": "exited", "ExitCode": 137, "Pid": 0,
                     "FinishedAt": now_text()}
            self._stopped[cid] = {**data, "State": state}
            self._emit(container_event("die", data))

    def _emit(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        self._changed.notify_all()

    def running_names(self) -> dict[str, str]:
        """name -> id of every running container: what the host's `hosts/<host>/` must hold."""
        with self._changed:
            return {data["Name"][1:]: cid for cid, data in self._running.items()}

    def summaries(self, every: bool, statuses: list[str]) -> list[dict[str, Any]]:
        with self._changed:
            chosen = [*self._running.values(), *(self._stopped.values() if every or statuses else ())]
        if statuses:
            chosen = [data for data in chosen if data["State"]["Status"] in statuses]
        return [summary(data) for data in chosen]

    def find(self, reference: str) -> dict[str, Any] | None:
        """A container by full id, name or unique id prefix, like Docker; None when there is none."""
        with self._changed:
            every = {**self._stopped, **self._running}
        if reference in every:
            return every[reference]
        named = [data for data in every.values() if data["Name"][1:] == reference.lstrip("/")]
        prefixed = [data for cid, data in every.items() if cid.startswith(reference)]
        found = named or prefixed
        return found[0] if len(found) == 1 else None

    def subscribe(self, since_ns: int | None) -> tuple[list[dict[str, Any]], int]:
        """(events after `since_ns` to replay, the position to follow from), taken atomically."""
        with self._changed:
            backlog = [] if since_ns is None else [event for event in self._events if event["timeNano"] > since_ns]
            return backlog, len(self._events)

    def wait_events(self, position: int, timeout: float) -> tuple[list[dict[str, Any]], int]:
        """Events from `position` on, waiting up to `timeout` for one; empty when the engine closed."""
        with self._changed:
            if len(self._events) <= position and not self.closed:
                self._changed.wait(timeout)
            return self._events[position:], len(self._events)

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """One entry of `GET /containers/json`."""
    state = data["State"]
    return {"Id": data["Id"], "Names": [data["Name"]], "Image": data["Config"]["Image"], "ImageID": data["Image"],
            "Command": " ".join(data.get("Args") or []), "Created": int(time.time()), "State": state["Status"],
            "Status": "Up" if state["Running"] else "Exited (137)", "Ports": [],
            "Labels": data["Config"].get("Labels") or {}, "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": data["NetworkSettings"].get("Networks") or {}}, "Mounts": []}


def wanted(event: dict[str, Any], filters: dict[str, Any]) -> bool:
    """Docker's event filters we honour: type, event (action), container (id or name)."""
    checks = {"type": [event["Type"]], "event": [event["Action"]],
              "container": [event["Actor"]["ID"], event["Actor"]["Attributes"].get("name", "")]}
    for name, accepted in filters.items():
        values = list(accepted) if isinstance(accepted, dict | list) else [accepted]
        if name in checks and not set(values) & set(checks[name]):
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        url = urlsplit(self.path)
        path = VERSION_PREFIX.sub("", url.path)
        query = parse_qs(url.query)
        engine = self.server.engine
        if path == "/_ping":
            self._send(200, b"OK", "text/plain; charset=utf-8")
        elif path == "/version":
            self._json(200, version_reply())
        elif path == "/info":
            self._json(200, info_reply(engine))
        elif path == "/containers/json":
            self._list(query)
        elif path == "/events":
            self._events(query)
        elif match := INSPECT_PATH.match(path):
            self._inspect(match.group(1))
        else:
            self._json(404, {"message": "page not found"})

    def _inspect(self, reference: str) -> None:
        found = self.server.engine.find(reference)
        if found:
            self._json(200, found)
        else:
            self._json(404, {"message": f"No such container: {reference}"})

    def _list(self, query: dict[str, list[str]]) -> None:
        filters = json.loads(query.get("filters", ["{}"])[0] or "{}")
        statuses = filters.get("status") or []
        every = query.get("all", ["0"])[0] in ("1", "true", "True")
        self._json(200, self.server.engine.summaries(every, list(statuses)))

    def _events(self, query: dict[str, list[str]]) -> None:
        since = query.get("since", [""])[0]
        filters = json.loads(query.get("filters", ["{}"])[0] or "{}")
        engine = self.server.engine
        backlog, position = engine.subscribe(int(float(since) * 1e9) if since else None)
        self.send_response(200)
        self._common_headers("application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            self._stream(engine, backlog, position, filters)
        except OSError:
            pass  # the client went away

    def _stream(self, engine: Engine, backlog: list[dict[str, Any]], position: int, filters: dict[str, Any]) -> None:
        self._chunks(backlog, filters)
        while not engine.closed:
            events, position = engine.wait_events(position, WAIT_SLICE)
            self._chunks(events, filters)
        self.wfile.write(b"0\r\n\r\n")

    def _chunks(self, events: list[dict[str, Any]], filters: dict[str, Any]) -> None:
        for event in events:
            if wanted(event, filters):
                body = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self._common_headers(content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _common_headers(self, content_type: str) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")

    def version_string(self) -> str:
        return f"Docker/{ENGINE_VERSION} (linux)"

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        """Quiet: a hundred servers would flood the bench's output."""


def version_reply() -> dict[str, Any]:
    return {"Version": ENGINE_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": "1.12", "Os": "linux",
            "Arch": "amd64", "KernelVersion": os.uname().release, "GoVersion": "go1.19", "GitCommit": "simulated",
            "Platform": {"Name": "simulated Docker Engine (bench/fakedocker.py)"}}


def info_reply(engine: Engine) -> dict[str, Any]:
    running = len(engine.running_names())
    return {"ID": f"SIM:{engine.host}", "Name": engine.host, "Containers": running, "ContainersRunning": running,
            "ContainersPaused": 0, "ContainersStopped": 0, "ServerVersion": ENGINE_VERSION, "OSType": "linux",
            "Architecture": "x86_64", "NCPU": os.cpu_count(), "Driver": "simulated"}


class Server(socketserver.ThreadingUnixStreamServer):
    """A thread per connection; remembers its connections so that stop() can cut them (event streams too)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, path: str, engine: Engine) -> None:
        self.engine = engine
        self.connections: set[socket.socket] = set()
        self._guard = threading.Lock()
        super().__init__(path, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._guard:
            open_ones = list(self.connections)
        for connection in open_ones:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FakeDocker:
    """One simulated Docker host: an Engine behind a unix socket, served by threads of this process."""

    def __init__(self, host: str, socket_path: Path, containers: int = 0) -> None:
        self.engine = Engine(host)
        self.socket_path = socket_path
        for _ in range(containers):
            self.engine.start_container()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> FakeDocker:
        self.socket_path.unlink(missing_ok=True)
        self._server = Server(str(self.socket_path), self.engine)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name=f"fakedocker-{self.engine.host}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.engine.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.cut_connections()
            self._server.server_close()
            self._server = None
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> FakeDocker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _next_events(events: Iterator[dict[str, Any]], count: int, timeout: float = 5) -> list[dict[str, Any]]:
    """The next `count` events of a docker-py stream, or an error after `timeout` seconds."""
    found: queue.Queue = queue.Queue()

    def read() -> None:
        for _ in range(count):
            found.put(next(events))

    threading.Thread(target=read, daemon=True).start()
    try:
        return [found.get(timeout=timeout) for _ in range(count)]
    except queue.Empty:
        raise AssertionError(f"the simulated Docker sent no event within {timeout}s") from None


def self_check() -> None:
    """docker-py (as the agent uses it) lists, inspects and follows events through a simulated host."""
    import docker
    import docker.errors

    with tempfile.TemporaryDirectory(prefix="sr-fakedocker-") as folder:
        with FakeDocker("check-host", Path(folder) / "docker.sock", containers=3) as fake:
            api = docker.APIClient(base_url=fake.url, version="auto", timeout=10)
            try:
                _check_reads(api, fake, docker.errors.NotFound)
                _check_events(api, fake)
            finally:
                api.close()


def _check_reads(api: Any, fake: FakeDocker, not_found: type[Exception]) -> None:
    assert api.ping(), "no ping"
    assert api.info()["Name"] == "check-host", "info Name"
    listed = {item["Id"] for item in api.containers(filters={"status": "running"})}
    assert listed == set(fake.engine.running_names().values()), "container list"
    details = api.inspect_container(sorted(listed)[0])
    assert details["State"]["Running"] and details["Name"].startswith("/check-host-c"), "inspect"
    try:
        api.inspect_container("0" * 64)
        raise AssertionError("an unknown container was found")
    except not_found:
        pass


def _check_events(api: Any, fake: FakeDocker) -> None:
    filters = {"type": ["container", "network"]}
    replay = api.events(since=0, filters=filters, decode=True)
    assert [event["Action"] for event in _next_events(replay, 3)] == ["start"] * 3, "replay of since=0"
    replay.close()
    middle = time.time()
    live = api.events(filters=filters, decode=True)
    cid = fake.engine.start_container()
    fake.engine.stop_container(cid)
    seen = [(event["Action"], event["Actor"]["ID"]) for event in _next_events(live, 2)]
    assert seen == [("start", cid), ("die", cid)], f"live events: {seen}"
    live.close()
    later = api.events(since=middle, filters={"type": ["container"], "event": ["die"]}, decode=True)
    assert _next_events(later, 1)[0]["id"] == cid, "replay of a float since with an event filter"
    later.close()
    assert cid not in {item["Id"] for item in api.containers(filters={"status": ["running"]})}, "stopped listed"
    assert api.inspect_container(cid)["State"]["Status"] == "exited", "stopped container's state"


if __name__ == "__main__":
    self_check()
    print("bench.fakedocker: docker-py lists, inspects and follows events through the simulated Engine")
