"""Log setup: readable lines on a terminal, one JSON object per line elsewhere."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["configure_logging"]

_LEVELS = {"TRACE": logging.DEBUG, "WARN": logging.WARNING, "OFF": logging.CRITICAL + 10}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, fmt: str) -> None:
    """Configure the ``blobhouse`` logger once per process."""
    logger = logging.getLogger("blobhouse")
    logger.setLevel(_LEVELS.get(level, getattr(logging, level, logging.INFO)))
    if getattr(logger, "_blobhouse_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    if use_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger._blobhouse_configured = True  # type: ignore[attr-defined]
