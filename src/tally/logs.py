"""Log lines a person can read and a pipeline can parse, through the standard `logging` module.

A record's facts travel in `extra={"fields": {...}}`; the text format prints them as
`key=value` after the message, the JSON format as one object per line. The request's trace id is
a context variable set by the HTTP middleware, so code deeper down (a slow query in a worker
thread, which inherits the context) can name the request that caused its line.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)
FORMATS = ("text", "json")


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    found = getattr(record, "fields", None)
    return dict(found) if isinstance(found, dict) else {}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's fields, and the
    traceback of an error as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`, the traceback (if any) below."""

    def format(self, record: logging.LogRecord) -> str:
        facts = " ".join(f"{k}={_value(v)}" for k, v in fields_of(record).items() if v is not None)
        head = f"{_time(record)} {record.levelname.lower():<7} {record.name}: {record.getMessage()}"
        text = f"{head} {facts}" if facts else head
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if text and " " not in text else orjson.dumps(text).decode()


def configure(level: str, fmt: str) -> None:
    """Every log line of the process (Tally's and the server's) to stderr in `fmt`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
