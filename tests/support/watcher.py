"""An independent etcd watcher (a thread with a streaming request), recording every event under a prefix."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid

import requests

from tests.support.etcdclient import EtcdClient
from tests.support.waiting import wait_until


class EventLog:
    def __init__(self, url: str, prefix: str) -> None:
        raw = prefix.encode()
        self._request = {"create_request": {"key": base64.b64encode(raw).decode(),
                                            "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()}}
        self._url = url
        self._prefix = prefix
        self.events: list[tuple[str, str, float]] = []  # (PUT or DELETE, key, time seen)
        self._created = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EventLog:
        self._thread.start()
        if not self._created.wait(10):
            raise AssertionError("the test watcher did not start")
        return self

    def __exit__(self, *_: object) -> None:
        """Closing a stream another thread reads can hang: the daemon thread ends with its connection."""
        self._stop.set()

    def flush(self, etcd: EtcdClient) -> None:
        """Wait until every event before now has arrived: write a marker key and wait to see it."""
        key = f"{self._prefix}~flush-{uuid.uuid4().hex[:8]}"
        etcd.put(key, "")
        wait_until(lambda: any(seen == key for _, seen, _ in self.events), what="the watcher to catch up")
        etcd.delete(key)

    def _run(self) -> None:
        with requests.post(f"{self._url}/v3/watch", json=self._request, stream=True, timeout=(3, 3600)) as reply:
            try:
                for line in reply.iter_lines():
                    now = time.time()
                    result = json.loads(line).get("result", {})
                    if result.get("created"):
                        self._created.set()
                    for event in result.get("events", []):
                        key = base64.b64decode(event["kv"]["key"]).decode()
                        self.events.append((event.get("type", "PUT"), key, now))
            except (requests.RequestException, AttributeError, ValueError):
                if not self._stop.is_set():
                    raise

    def first(self, kind: str, key: str) -> float | None:
        """When the watcher first saw `key` put ("PUT") or deleted ("DELETE")."""
        return next((seen for event, name, seen in self.events if event == kind and name == key), None)

    def deletes(self) -> list[str]:
        return [key for kind, key, _ in self.events if kind == "DELETE" and "~flush-" not in key]
