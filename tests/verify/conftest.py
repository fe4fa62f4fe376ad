"""One settled ledger shared by the hostile-input tests (see tests/support/settled_bundles.py)."""

from __future__ import annotations

import pytest

from tests.support.settled_bundles import Settled, settle_two_months


@pytest.fixture(scope="session")
def settled_bundles(tmp_path_factory: pytest.TempPathFactory) -> Settled:
    return settle_two_months(tmp_path_factory.mktemp("hostile"))
