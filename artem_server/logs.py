"""Logging with the stream id: text for people, JSON lines for log collectors.

The id of the Stylize stream being served lives in a context variable; asyncio tasks copy
their creator's context, so the reader and worker tasks of a stream log under its id too.
Nothing here logs request metadata: a bearer token never reaches a log line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

stream_id: contextvars.ContextVar[str] = contextvars.ContextVar("artem_stream_id", default="")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(stream)s: %(message)s"


class StreamIdFilter(logging.Filter):
    """Adds `stream_id` (may be empty) and `stream` (" [id]" or "") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        sid = stream_id.get()
        record.stream_id = sid
        record.stream = f" [{sid}]" if sid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601), level, logger, msg, stream_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        sid = getattr(record, "stream_id", "")
        if sid:
            out["stream_id"] = sid
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class RateLimitedLog:
    """One line per `interval_s` at most, for what an unauthenticated client can trigger at will
    (undecodable requests): the next line that is logged counts the ones left out."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self.logger, self.interval_s = logger, interval_s
        self._next = 0.0
        self._skipped = 0

    def warning(self, msg: str, *args: object) -> bool:
        """Log `msg % args` unless a line went out less than `interval_s` ago; True if logged."""
        now = time.monotonic()
        if now < self._next:
            self._skipped += 1
            return False
        self._next = now + self.interval_s
        if self._skipped:
            msg += f" (and {self._skipped} more since the last such line, not logged)"
            self._skipped = 0
        self.logger.warning(msg, *args)
        return True


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Root logging for the `artem` command: `fmt` is "text" or "json"; both carry the stream id."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r}: expected text or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(StreamIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
