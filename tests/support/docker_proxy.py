"""A recording proxy between the agent (DOCKER_HOST=tcp://127.0.0.1:port) and a Docker unix socket:
it forwards every byte and writes down each request line the agent sends; a request whose line contains one of
`refused` is answered with a 500 by the proxy itself, as a Docker stuck on a container lock answers."""

from __future__ import annotations

import socket
import threading


class RecordingProxy:
    def __init__(self, docker_socket: str) -> None:
        self.docker_socket = docker_socket
        self.requests: list[str] = []
        self.refused: set[str] = set()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []

    def __enter__(self) -> RecordingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        for sock in [self._server, *self._open]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def methods(self) -> set[str]:
        return {line.split(" ", 1)[0] for line in self.requests}

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.docker_socket)
            self._open += [client, upstream]
            threading.Thread(target=self._copy, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Forward requests one by one, recording each request line; bodies by Content-Length."""
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                self.requests.append(lines[0])
                length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                               if line.lower().startswith("content-length:")), 0)
                while len(buffer) < length:
                    buffer += client.recv(65536)
                if any(part in lines[0] for part in set(self.refused)):
                    body = b'{"message": "container lock timed out (refused by the test proxy)"}'
                    client.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                else:
                    upstream.sendall(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
        except OSError:
            pass
