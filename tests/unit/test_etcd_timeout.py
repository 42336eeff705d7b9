"""An etcd request that times out says so (issue 22, slow etcd): the line it ends in names the timeout, not
only the connection pool it was made on (`failure.split(':')[0]` kept "HTTPConnectionPool(host=…, port=…)" and
dropped "Read timed out"), so a keepalive that failed because etcd was slow reads as that."""

from __future__ import annotations

import socket

import pytest

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_connection import Members
from agent.adapters.etcd_errors import EtcdUnavailable
from agent.settings import Endpoint


def test_a_request_etcd_does_not_answer_in_time_says_it_timed_out():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections complete (backlog); nothing answers
        etcd = Etcd(Members([Endpoint("http", "127.0.0.1", silent.getsockname()[1])]), None, 0.2)
        with pytest.raises(EtcdUnavailable) as raised:
            etcd.lease_refresh(1)
    assert str(raised.value) == "no etcd endpoint answered (timed out after 0.2 s)"


def test_a_refused_connection_still_says_where():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    etcd = Etcd(Members([Endpoint("http", "127.0.0.1", port)]), None, 0.2)
    with pytest.raises(EtcdUnavailable) as raised:
        etcd.lease_refresh(1)
    assert str(raised.value) == f"no etcd endpoint answered (HTTPConnectionPool(host='127.0.0.1', port={port}))"
