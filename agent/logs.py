"""Logging set-up: one line per decision, as text or JSON."""

from __future__ import annotations

import json
import logging
import sys
from types import TracebackType

import gevent

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_greenlet_failure(context: object, kind: type[BaseException], error: BaseException,
                         traceback: TracebackType | None) -> None:
    """gevent's hub would print the traceback of a failed greenlet on stderr, outside the log and its format.
    The arbiter tells the failure (one line); its traceback goes to the log, at debug."""
    logging.getLogger("gevent").debug("%s failed", context, exc_info=(kind, error, traceback))


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    gevent.get_hub().print_exception = log_greenlet_failure
