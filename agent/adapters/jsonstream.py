"""Decodes a stream of concatenated JSON objects that arrive in arbitrary chunks (the grpc-gateway's
watch stream): a message may be split across chunks, and one chunk may hold several messages."""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


class JsonStream:
    def __init__(self, limit: int = 64 * 1024 * 1024) -> None:
        self._buffer = ""
        self._pending = b""
        self._limit = limit

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Every message completed by `chunk`, in order; a partial one waits for the next chunk."""
        text, self._pending = self._decode_utf8(self._pending + chunk)
        self._buffer += text
        messages = []
        while True:
            start = len(self._buffer) - len(self._buffer.lstrip(_SPACE))
            if start == len(self._buffer):
                self._buffer = ""
                return messages
            try:
                message, end = _DECODER.raw_decode(self._buffer, start)
            except json.JSONDecodeError:
                if len(self._buffer) > self._limit:
                    raise ValueError("watch stream message over the size limit") from None
                self._buffer = self._buffer[start:]
                return messages
            messages.append(message)
            self._buffer = self._buffer[end:]

    @staticmethod
    def _decode_utf8(data: bytes) -> tuple[str, bytes]:
        """Decode what is complete; keep a trailing partial UTF-8 sequence for the next chunk."""
        for cut in range(len(data), max(len(data) - 4, -1), -1):
            try:
                return data[:cut].decode("utf-8"), data[cut:]
            except UnicodeDecodeError:
                continue
        return data.decode("utf-8", errors="replace"), b""
