"""Fixtures shared by every test room; the helpers they use live in tests/support/."""

from __future__ import annotations

import decimal
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from revshare.ledger.store import Ledger
from tests.support.catalogs import make_catalog
from tests.support.databases import postgres_database
from tests.support.servers import Running, running_gateway


@pytest.fixture(autouse=True)
def _float_trap() -> Iterator[None]:
    """Money must never meet a float: any mixed Decimal/float operation raises in tests."""
    ctx = decimal.getcontext()
    before = ctx.traps[decimal.FloatOperation]
    ctx.traps[decimal.FloatOperation] = True
    yield
    ctx.traps[decimal.FloatOperation] = before


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each ledger test runs on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """A migrated ledger on each of the `ledger_url` databases (a test room may define its own)."""
    led = Ledger(ledger_url)
    led.migrate()
    yield led
    led.close()


@pytest.fixture(scope="session")
def model_path() -> str:
    try:
        from revshare.engines.embedded import default_model_path

        return default_model_path()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the embedded model must be installed in CI: {exc}")
        pytest.skip(f"embedded model not installed: {exc}")
        raise


@pytest.fixture(scope="session")
def embedded_gateway(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One gateway with the embedded model and a SQLite ledger, shared by the API tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('gw') / 'ledger.db'}"
    with running_gateway(make_catalog(), url) as gw:
        yield gw
