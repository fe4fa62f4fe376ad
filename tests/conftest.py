"""Shared fixtures: catalogs, ledgers on SQLite and PostgreSQL, real servers on real sockets."""

from __future__ import annotations

import decimal
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from revshare.config import Catalog, parse_catalog

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("REVSHARE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _float_trap() -> Iterator[None]:
    """Money must never meet a float: any mixed Decimal/float operation raises in tests."""
    ctx = decimal.getcontext()
    before = ctx.traps[decimal.FloatOperation]
    ctx.traps[decimal.FloatOperation] = True
    yield
    ctx.traps[decimal.FloatOperation] = before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def catalog_dict(*, engines: list[dict[str, Any]] | None = None, **server: Any) -> dict[str, Any]:
    """A small catalog: the embedded Gemma model, a price, and customers demo and acme."""
    return {
        "server": {"host_name": "test-host", **server},
        "engines": engines or [{"id": "local", "kind": "embedded", "n_ctx": 2048}],
        "models": [
            {"id": "gemma-3-270m", "engine": (engines or [{"id": "local"}])[0]["id"], "licensor": "google",
             "context_length": 2048},
        ],
        "prices": [
            {"model": "gemma-3-270m", "input_per_million": "0.10", "output_per_million": "0.40",
             "currency": "USD", "effective_from": "2026-01-01T00:00:00Z"},
        ],
        "customers": [
            {"name": "demo", "models": ["*"]},
            {"name": "acme", "models": ["gemma-*"]},
            {"name": "locked", "models": ["llama-*"]},
        ],
    }


def make_catalog(**kwargs: Any) -> Catalog:
    return parse_catalog(catalog_dict(**kwargs), source="test.toml")


# databases -----------------------------------------------------------------------------------

def _pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not running on 127.0.0.1:5432; .ci/run must start it")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"revshare_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each ledger test runs on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with postgres_database() as url:
            yield url


# the base install -------------------------------------------------------------------------

SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "aiohttp", "llama_cpp", "httpx")

_BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {{name}} is not a base dependency")
        return None

sys.meta_path.insert(0, Block())
"""


def run_with_base_install_only(body: str) -> subprocess.CompletedProcess[str]:
    """Run `body` in a fresh interpreter where importing any server package fails, as it would
    after a plain `pip install revshare`. `BLOCKED` names those packages inside `body`."""
    script = _BLOCKER.format(blocked=SERVER_PACKAGES) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


# servers -----------------------------------------------------------------------------------

def upstream_stub_app(tokens: int = 16, report_usage: bool = True, delay_s: float = 0.0) -> Any:
    """The benchmark's minimal OpenAI-compatible upstream (bench/upstream_stub.py) as an ASGI app."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("upstream_stub", REPO / "bench" / "upstream_stub.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_app(tokens, report_usage, delay_s)


class ServerThread:
    """uvicorn serving an app on a real socket, in a thread of this process."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


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


class Running:
    """A gateway under test: its URL, ledger, admin token and one key per customer."""

    def __init__(self, server: ServerThread, ledger: Any, admin_token: str, keys: dict[str, str]) -> None:
        self.server = server
        self.url = server.url
        self.ledger = ledger
        self.admin_token = admin_token
        self.keys = keys

    def record(self, record_id: str, timeout: float = 10.0) -> Any:
        """The one record with this id, waiting briefly for a disconnected request's record."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.ledger.records(record_id=record_id)
            if rows or time.monotonic() > deadline:
                assert len(rows) <= 1
                return rows[0] if rows else None
            time.sleep(0.05)


@contextmanager
def running_gateway(catalog: Catalog, url: str, engines: dict[str, Any] | None = None) -> Iterator[Running]:
    from revshare.api.app import create_app
    from revshare.ledger.store import Ledger

    ledger = Ledger(url)
    ledger.migrate()
    keys = {c.name: ledger.create_key(c.name, "test")[1] for c in catalog.customers}
    admin_token = "rsa_test_" + uuid.uuid4().hex
    app = create_app(catalog, admin_token=admin_token, ledger=Ledger(url), engines=engines)
    with ServerThread(app) as server:
        yield Running(server, ledger, admin_token, keys)
    ledger.close()


@pytest.fixture(scope="session")
def embedded_gateway(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One gateway with the embedded model and a SQLite ledger, shared by the API tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('gw') / 'ledger.db'}"
    with running_gateway(make_catalog(), url) as gw:
        yield gw
