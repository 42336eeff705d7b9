"""haproxy's own lines, logged by discover at the level they mean: an ordinary reload or a stop we asked for is
information, whatever haproxy tags it; a backend down, a configuration refused are what they say."""

from __future__ import annotations

import io
import logging

import pytest

from agent.discover.haproxy import Output

RELOAD = b"""[NOTICE]   (4268) : Reloading HAProxy
[WARNING]  (4271) : Proxy <HTTPCLIENT> stopped (cumulated conns: FE: 0, BE: 0).
[WARNING]  (4280) : Proxy web-1-8080 stopped (cumulated conns: FE: 12, BE: 11).
[NOTICE]   (4268) : New worker (4280) forked
[WARNING]  (4268) : Former worker (4271) exited with code 0 (Exit)
"""
STOP = b"""[WARNING]  (4268) : Exiting Master process...
[ALERT]    (4268) : Current worker (4288) exited with code 143 (Terminated)
[WARNING]  (4268) : All workers exited. Exiting... (0)
"""
TROUBLE = b"""[WARNING]  (4280) : Server x/a is DOWN, reason: Layer4 connection problem.
[ALERT]    (4280) : proxy 'x' has no server available!
[WARNING]  (4268) : Former worker (4271) exited with code 139 (Segmentation fault)
"""


def levels(caplog: pytest.LogCaptureFixture, output: Output, text: bytes) -> list[int]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="haproxy"):
        output.relay(io.BytesIO(text))
    return [record.levelno for record in caplog.records]


def test_an_ordinary_reload_says_nothing_above_info(caplog):
    assert levels(caplog, Output(), RELOAD) == [logging.INFO] * 5


def test_a_stop_we_asked_for_says_nothing_above_info_and_an_unasked_one_is_an_alert(caplog):
    asked = Output()
    asked.stopping = True
    assert levels(caplog, asked, STOP) == [logging.INFO] * 3
    assert levels(caplog, Output(), STOP) == [logging.WARNING, logging.ERROR, logging.WARNING]


def test_trouble_keeps_its_level_and_an_alert_is_kept_as_a_reason(caplog):
    output = Output()
    output.stopping = True
    assert levels(caplog, output, TROUBLE) == [logging.WARNING, logging.ERROR, logging.WARNING]
    assert output.alerts == 1 and output.recent == ["proxy 'x' has no server available!"]
