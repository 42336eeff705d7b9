"""The watch stream decoder: messages split anywhere, several per chunk, multi-byte characters cut."""

import json

import pytest

from agent.adapters.jsonstream import JsonStream

MESSAGES = [{"result": {"created": True}}, {"result": {"events": [{"kv": {"key": "a2V5", "value": "w7w="}}]}},
            {"error": {"message": "ünïcödé ✓"}}]
STREAM = "\n".join(json.dumps(m, ensure_ascii=False) for m in MESSAGES).encode() + b"\n"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50, len(STREAM)])
def test_any_chunking_gives_the_same_messages(size):
    stream = JsonStream()
    found = []
    for start in range(0, len(STREAM), size):
        found += stream.feed(STREAM[start:start + size])
    assert found == MESSAGES


def test_messages_without_separators():
    stream = JsonStream()
    assert stream.feed(b'{"a":1}{"b":2}{"c"') == [{"a": 1}, {"b": 2}]
    assert stream.feed(b":3}") == [{"c": 3}]


def test_oversized_partial_message_is_refused():
    stream = JsonStream(limit=10)
    with pytest.raises(ValueError):
        stream.feed(b'{"key": "' + b"x" * 20)
