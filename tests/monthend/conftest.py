"""The month end's tests share the demo catalog (the migrated `ledger` comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

from revshare.config import Catalog, load_catalog
from tests.support.paths import REPO


@pytest.fixture(scope="module")
def demo() -> Catalog:
    return load_catalog(REPO / "revshare.toml")
