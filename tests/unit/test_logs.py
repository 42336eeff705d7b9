"""Logging: a failed greenlet's traceback goes to the log at debug, never raw on stderr (issue 19, defect 8)."""

import json
import logging

import gevent
import pytest

from agent.logs import setup_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hub = gevent.get_hub()
    yield
    root.handlers[:], root.level = handlers, level
    hub.__dict__.pop("print_exception", None)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("level", ["info", "debug"])
def test_a_failed_greenlet_prints_no_raw_traceback_and_json_stays_json(capfd, level):
    setup_logging(level, "json")
    failed = gevent.spawn(lambda: 1 / 0)
    failed.join()
    assert isinstance(failed.exception, ZeroDivisionError)
    err = capfd.readouterr().err
    assert "Traceback (most recent call last)" not in err.split('"exception"')[0]
    lines = [json.loads(line) for line in err.splitlines() if line]  # every line is JSON
    failures = [line for line in lines if line["logger"] == "gevent"]
    if level == "debug":  # the traceback, at debug, in the entry's `exception`
        assert len(failures) == 1 and "ZeroDivisionError" in failures[0]["exception"]
    else:
        assert failures == []
