"""The Redis the scale-out tests share limits through: skipped without one (failed in CI)."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

REDIS_URL = os.environ.get("REVSHARE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_url() -> str:
    """The test Redis's URL, once it answers on 127.0.0.1:6379."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not running on 127.0.0.1:6379; .ci/run must start it")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return REDIS_URL


def fresh_prefix() -> str:
    """A key prefix of this test's own, so that tests never see each other's windows."""
    return f"revshare-test-{uuid.uuid4().hex[:12]}"
