"""The access log's thread: every queued line written, in order, once a batch."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from revshare.api import access_log
from revshare.api.access_log import ACCESS_LOG, AccessEntry, BatchStreamHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


@pytest.fixture
def stream() -> Iterator[CountingStream]:
    access_log.flush()  # lines other tests queued go to their own handlers, not this one
    stream = CountingStream()
    handler = BatchStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level, propagate = ACCESS_LOG.level, ACCESS_LOG.propagate
    ACCESS_LOG.addHandler(handler)
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
    try:
        yield stream
    finally:
        ACCESS_LOG.removeHandler(handler)
        ACCESS_LOG.setLevel(level)
        ACCESS_LOG.propagate = propagate


def entry(n: int) -> AccessEntry:
    return AccessEntry(1_764_547_200 + n / 1000, "POST", "/v1/chat/completions", 200, 0.002, f"rec_{n:04d}",
                       "demo", "key_1", "m", "ok", 3, 4, None)


def test_a_batch_is_written_whole_in_order_with_one_flush(stream: CountingStream) -> None:
    for n in range(50):
        access_log.submit("text", entry(n))
    access_log.flush()
    lines = stream.getvalue().splitlines()
    assert [line.split("record_id=")[1].split()[0] for line in lines] == [f"rec_{n:04d}" for n in range(50)]
    assert stream.flushes == 1
    access_log.flush()  # nothing queued: nothing written, no flush
    assert stream.flushes == 1


def test_the_thread_writes_queued_lines_without_being_asked(stream: CountingStream) -> None:
    access_log.submit("json", entry(7))
    deadline = time.monotonic() + 10
    while "rec_0007" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"record_id":"rec_0007"' in stream.getvalue()


def test_off_queues_nothing(stream: CountingStream) -> None:
    access_log.submit("off", entry(9))
    access_log.flush()
    assert stream.getvalue() == ""
