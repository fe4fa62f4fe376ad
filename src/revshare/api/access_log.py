"""The access log: one line per HTTP request on the logger `revshare.access`, written off the
event loop.

The request path only queues the line's fields (a tuple, well under a microsecond); a thread of
its own turns them into lines and hands them to `logging` every 0.2 s, as nginx's buffered
`access_log` does. Formatting a line and a `logging` call cost 15-50 µs, which the event loop
no longer waits for. `revshare serve` gives the logger a `BatchStreamHandler`, which writes
standard output once a batch rather than once a line. At a normal exit (SIGTERM, Ctrl-C) the
queue is written out; a process killed with SIGKILL loses at most the last 0.2 s of lines (the
usage records are in the ledger, the access log is for people).

Styles (`server.access_log`): `text`, `key=value` pairs; `json`, one object a line; `off`.
Fields: time (the request's start), method, route, status, duration_ms, record_id, customer,
key_id, model, outcome, prompt_tokens, completion_tokens, ttft_ms. Never a header, a prompt or a
completion.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from revshare.instants import format_instant

__all__ = ["ACCESS_LOG", "FLUSH_SECONDS", "AccessEntry", "AccessStyle", "BatchStreamHandler", "flush", "format_line",
           "submit"]

ACCESS_LOG = logging.getLogger("revshare.access")
FLUSH_SECONDS = 0.2

AccessStyle = Literal["text", "json", "off"]

_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder: json.dumps makes one a call with separators
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/{}@+*")


class AccessEntry(NamedTuple):
    """What one line says, as the request path knows it (times from `time`)."""

    wall: float  # time.time() at the request's start
    method: str
    route: str
    status: int
    seconds: float
    record_id: str | None
    customer: str | None
    key_id: str | None
    model: str | None
    outcome: str
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_seconds: float | None


def format_line(style: AccessStyle, entry: AccessEntry) -> str:
    """An entry as its line in `style` (text or json)."""
    e = entry
    ttft = None if e.ttft_seconds is None else round(e.ttft_seconds * 1000, 3)
    if style == "json":
        return _JSON.encode({
            "time": _instant(e.wall), "method": e.method, "route": e.route, "status": e.status,
            "duration_ms": round(e.seconds * 1000, 3), "record_id": e.record_id, "customer": e.customer,
            "key_id": e.key_id, "model": e.model, "outcome": e.outcome, "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens, "ttft_ms": ttft,
        })
    return (f"time={_instant(e.wall)} method={_text(e.method)} route={_text(e.route)} status={e.status} "
            f"duration_ms={e.seconds * 1000:.3f} record_id={_text(e.record_id)} customer={_text(e.customer)} "
            f"key_id={_text(e.key_id)} model={_text(e.model)} outcome={_text(e.outcome)} "
            f"prompt_tokens={_text(e.prompt_tokens)} completion_tokens={_text(e.completion_tokens)} "
            f"ttft_ms={_text(ttft)}")


_pending: deque[tuple[AccessStyle, AccessEntry]] = deque()  # append and popleft are atomic
_drain = threading.Lock()
_writer: threading.Thread | None = None


def submit(style: AccessStyle, entry: AccessEntry) -> None:
    """Queue a line (any thread); the access-log thread writes it within FLUSH_SECONDS."""
    if style == "off":
        return
    _pending.append((style, entry))
    if _writer is None:
        _start()


def flush() -> None:
    """Write every queued line now, in order (the thread does this every FLUSH_SECONDS)."""
    with _drain:
        if not _pending:
            return
        while _pending:
            style, entry = _pending.popleft()
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                # handle(makeRecord()) is what info() does, without its walk up the stack for the caller.
                ACCESS_LOG.handle(ACCESS_LOG.makeRecord(
                    ACCESS_LOG.name, logging.INFO, __file__, 0, format_line(style, entry), (), None))
        for handler in ACCESS_LOG.handlers:
            if isinstance(handler, BatchStreamHandler):
                handler.flush()


class BatchStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that leaves flushing to the access log's thread, once a batch: a flush
    is a write to the stream, about half the cost of a line when made for each."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)


def _start() -> None:
    global _writer
    with _drain:
        if _writer is None:
            _writer = threading.Thread(target=_write_forever, name="revshare-access-log", daemon=True)
            _writer.start()
            atexit.register(flush)


def _write_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # a handler that raises must not end the access log for good
            logging.getLogger("revshare").exception("access log: writing a line failed")


_last_second: tuple[int, str] = (-1, "")  # one tuple, swapped whole: safe to read from any thread


def _instant(wall: float) -> str:
    """The request's start, to the millisecond; the text up to the second is made once a second."""
    global _last_second
    second = int(wall)
    cached, text = _last_second
    if second != cached:
        text = format_instant(datetime.fromtimestamp(second, UTC), "seconds")[:-1]
        _last_second = (second, text)
    return f"{text}.{int((wall - second) * 1000):03d}Z"


def _text(value: Any) -> str:
    """A value of a `key=value` line: `-` for none, quoted (JSON) unless plainly safe."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value if value and _SAFE.issuperset(value) else json.dumps(value)
    return str(value)
