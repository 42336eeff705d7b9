"""Property-based tests of the layouts: whatever a container's labels and names hold, every key stays under
its root and inside its container's subtree, escaping reverses exactly, and containers never collide."""

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.escape import escape_segment, unescape_segment
from agent.layouts.backends import BackendsLayout
from agent.layouts.ec import RESERVED_HOSTS, EcLayout
from tests.unit.fixtures import inspect

ROOT, B = "/registry", "/backends"
text = st.text(st.characters(codec="utf-8"), max_size=30)
labels = st.dictionaries(text, text, max_size=8)
hosts = text.filter(lambda host: host and host not in RESERVED_HOSTS)
hex_ids = st.text("0123456789abcdef", min_size=64, max_size=64)


def container(cid: str, name: str, with_labels: dict, service: str | None = None) -> dict:
    data = copy.deepcopy(inspect("three_ports"))
    data["Id"], data["Name"] = cid, "/" + name
    data["Config"]["Labels"] = dict(with_labels)
    if service is not None:
        data["Config"]["Labels"]["SERVICE_NAME"] = service
    return data


@given(text)
def test_escaping_reverses_exactly_and_leaves_no_slash(raw):
    escaped = escape_segment(raw)
    assert "/" not in escaped
    assert unescape_segment(escaped) == raw


@given(hosts, hex_ids, text.filter(bool), labels)
@settings(max_examples=200)
def test_ec_keys_stay_in_the_root_and_the_container_subtree(host, cid, name, with_labels):
    keys = EcLayout(ROOT, host).container_keys(container(cid, name, with_labels))
    segment_host, segment_name = escape_segment(host), escape_segment(name)
    for key in keys:
        assert key.startswith(ROOT + "/")
        rest = key[len(ROOT) + 1:].split("/")
        if rest[0] == "containers":
            assert rest[1] == cid
        elif rest[0] == "hosts":
            assert rest[1:] == [segment_host, segment_name]
        elif rest[0] == "labels":
            assert len(rest) == 3 and rest[2] == cid and unescape_segment(rest[1]) in with_labels
        else:
            assert rest == [segment_host, segment_name]


@given(hosts, hex_ids, hex_ids, text.filter(bool), text.filter(bool), labels, labels)
@settings(max_examples=200)
def test_ec_distinct_containers_never_share_a_key(host, id_a, id_b, name_a, name_b, labels_a, labels_b):
    if id_a == id_b or name_a == name_b:
        return
    layout = EcLayout(ROOT, host)
    keys_a = layout.container_keys(container(id_a, name_a, labels_a))
    keys_b = layout.container_keys(container(id_b, name_b, labels_b))
    assert not set(keys_a) & set(keys_b)


@given(hex_ids, hex_ids, text, labels)
@settings(max_examples=200)
def test_backends_keys_stay_in_place_and_only_port_keys_are_shared(id_a, id_b, service, with_labels):
    if id_a[:12] == id_b[:12]:
        return
    layout = BackendsLayout(B, "10.0.0.1")
    keys_a = layout.container_keys(container(id_a, "a", with_labels, service))
    keys_b = layout.container_keys(container(id_b, "b", with_labels, service))
    for key in keys_a:
        parts = key[len(B) + 1:].split("/")
        assert key.startswith(B + "/") and len(parts) == 3 and parts[1].isdigit()
        assert parts[2] in ("port", id_a[:12])
    assert all(layout.shared(key) for key in set(keys_a) & set(keys_b))
