"""A real part the tests need: skipped on a developer's machine without it, a failure in CI."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def import_or_skip(module: str, what: str) -> ModuleType:
    """`module` imported; without it, a skip naming `what`, or a failure when CI is set (.ci/run
    installs every extra, so a missing one there is a broken install, not a reason to skip)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{what} must be installed in CI: {exc}")
        pytest.skip(f"{what} is not installed: {exc}")
        raise
