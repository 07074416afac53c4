"""Log output: plain text or one JSON object per line, each line with its request's ID."""

from __future__ import annotations

import contextvars
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from semcache.errors import ConfigError

__all__ = ["LOG_FORMATS", "JSONFormatter", "RequestIDFilter", "log_config", "request_id_var"]

LOG_FORMATS = ("text", "json")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "semcache_request_id", default=None
)
"""The ID of the request being served, if any."""

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Not extra fields: the record's own, and uvicorn's copy of its message in terminal colours.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}


class RequestIDFilter(logging.Filter):
    """Puts the current request's ID (or ``-``) on each record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC), ``level``, ``logger``, ``message``,
    ``request_id`` when serving a request, the record's extra fields, and ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id and request_id != "-":
            data["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _STANDARD:
                data[name] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def log_config(*, level: str, log_format: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary for the server (uvicorn's loggers too).

    Raises:
        ConfigError: an unknown format or level.
    """
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"setting 'log_format' must be text or json, got {log_format!r}")
    if level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(
            f"setting 'log_level' must be debug, info, warning or error, got {level!r}"
        )
    formatter: dict[str, Any] = (
        {"()": JSONFormatter} if log_format == "json" else {"format": _TEXT_FORMAT}
    )
    handler = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIDFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"semcache": handler, "uvicorn": handler},
    }
