"""A loopback TCP proxy that adds latency: it listens on 127.0.0.1:<free port>, forwards every connection to
`target` (a real etcd's client port), and holds each chunk of bytes `delay` seconds in each direction.

Each direction of a connection is a delay line: a reader thread stamps every chunk it receives with a release
time (now + delay) and queues it; a writer thread sends the chunks in order, each at its release time. Many
chunks are in flight at once, each delayed by the same amount: a round trip costs 2 x delay whatever else is
in flight, and throughput is not capped at one chunk per delay. Byte order is kept per connection.

Bounded: at most `max_connections` open connections (more are closed at once) and `max_chunks` queued per
direction (the reader then waits: back pressure, as a full TCP window). A context manager: leaving it closes
the listener and every socket and joins every thread. `delay` may be changed while it runs; it applies to the
chunks received from then on (order is kept: a chunk never overtakes the one before it).

It also counts the HTTP requests it forwards (`requests`, by method and path, e.g. "POST /v3/kv/txn"), read
from the request lines of the client's bytes, so a test can say how many round trips an action cost, and
keeps when each was read (`timeline`).
"""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import EtcdMember, free_port

REQUEST_LINE = re.compile(rb"(GET|POST|PUT|DELETE) (/[^ \r\n?]*)[^ \r\n]* HTTP/1\.[01]\r\n")
LINE_TAIL = 512  # bytes of the previous chunk kept to find a request line split between two chunks
CHUNK = 65536
JOIN_TIMEOUT = 2.0


@dataclass
class _Link:
    """One proxied connection: the client's socket, the upstream one, and their four threads."""

    client: socket.socket
    upstream: socket.socket
    threads: list[threading.Thread] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    ends: int = 0  # directions that finished cleanly (EOF passed on)

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class LatencyProxy:
    def __init__(self, target: tuple[str, int], delay: float = 0.0, port: int = 0, max_connections: int = 256,
                 max_chunks: int = 1024) -> None:
        self.target = target
        self.delay = delay
        self.max_connections = max_connections
        self.max_chunks = max_chunks
        self.requests: Counter[str] = Counter()
        self.timeline: deque[tuple[float, str]] = deque(maxlen=100_000)  # (time.monotonic() read, request line)
        self.connections = 0  # accepted, over the proxy's life
        self.refused = 0  # closed at once: max_connections were open
        self._server = socket.create_server(("127.0.0.1", port))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name=f"latency-proxy-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if not link.closed.is_set())

    def request_count(self, prefix: str = "") -> int:
        """Requests forwarded so far whose "METHOD /path" starts with `prefix` ("POST /v3/kv/txn")."""
        with self._lock:
            return sum(count for line, count in self.requests.items() if line.startswith(prefix))

    def __enter__(self) -> LatencyProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()
        if self._acceptor.is_alive():
            self._acceptor.join(JOIN_TIMEOUT)
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()
        for link in links:
            for thread in link.threads:
                thread.join(JOIN_TIMEOUT)
        stuck = [thread.name for link in links for thread in link.threads if thread.is_alive()]
        if stuck or self._acceptor.is_alive():
            raise RuntimeError(f"latency proxy threads still running after stop: {stuck}")

    # -- connections ---------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.open_connections >= self.max_connections:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            with self._lock:
                self._links = [old for old in self._links if not old.closed.is_set()] + [link]
                self.connections += 1
            name = f"latency-{self.port}-{self.connections}"
            for source, sink, counted, way in ((client, upstream, True, "up"), (upstream, client, False, "down")):
                line: queue.Queue[tuple[float, bytes | None]] = queue.Queue(self.max_chunks)
                link.threads += [
                    threading.Thread(target=self._read, args=(link, source, line, counted), daemon=True,
                                     name=f"{name}-{way}-read"),
                    threading.Thread(target=self._write, args=(link, sink, line), daemon=True,
                                     name=f"{name}-{way}-write")]
            for thread in link.threads:
                thread.start()

    def _read(self, link: _Link, source: socket.socket, line: queue.Queue, counted: bool) -> None:
        """Receive chunks, each stamped with its release time; EOF (None) travels the same line."""
        tail = b""
        try:
            while True:
                data = source.recv(CHUNK)
                if counted and data:
                    tail = self._count_requests(tail, data)
                if not self._queue(link, line, (time.monotonic() + self.delay, data or None)) or not data:
                    return
        except OSError:
            link.close()

    def _queue(self, link: _Link, line: queue.Queue, item: tuple[float, bytes | None]) -> bool:
        """Put `item` on the delay line, waiting while it is full; False when the link closed meanwhile."""
        while not link.closed.is_set():
            try:
                line.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _write(self, link: _Link, sink: socket.socket, line: queue.Queue) -> None:
        """Send each chunk at its release time, in order; pass EOF on as a half-close."""
        try:
            while not link.closed.is_set():
                try:
                    release, data = line.get(timeout=0.1)
                except queue.Empty:
                    continue
                wait = release - time.monotonic()
                if wait > 0 and link.closed.wait(wait):
                    return
                if data is None:
                    sink.shutdown(socket.SHUT_WR)
                    with self._lock:
                        link.ends += 1
                        done = link.ends == 2
                    if done:
                        link.close()
                    return
                sink.sendall(data)
        except OSError:
            link.close()

    def _count_requests(self, tail: bytes, data: bytes) -> bytes:
        """Count the request lines in `data` (one may begin in `tail`, the end of the previous chunk)."""
        text = tail + data
        found = [match for match in REQUEST_LINE.finditer(text) if match.end() > len(tail)]
        if found:
            with self._lock:
                for match in found:
                    line = f"{match[1].decode()} {match[2].decode()}"
                    self.requests[line] += 1
                    self.timeline.append((time.monotonic(), line))
        return text[-LINE_TAIL:]


@contextlib.contextmanager
def etcd_behind_proxy(workdir: Path, delay: float = 0.0,
                      name: str = "slow") -> Iterator[tuple[EtcdMember, LatencyProxy]]:
    """A real etcd of its own and a LatencyProxy in front of it. The member advertises the proxy's URL as its
    client URL, so an agent that lists the cluster's members (it does, at start and at every periodic
    comparison) keeps talking through the proxy and never fails over to the member's own port. The member's
    `url` is its real port: read it there to see what etcd holds, without the delay."""
    with LatencyProxy(("127.0.0.1", free_port()), delay) as proxy:
        member = EtcdMember(name, proxy.target[1], free_port(), workdir / f"etcd-{name}",
                            extra=["--advertise-client-urls", proxy.url])  # after the member's own: the last wins
        member.start(f"{name}={member.peer_url}")
        try:
            member.wait_ready()
            yield member, proxy
        finally:
            member.kill()
