"""Shared by the reliability tests: a (optionally slow) stub upstream and a stub-backed catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from revshare.config import Catalog, parse_catalog
from tests.support.catalogs import catalog_dict
from tests.support.paths import REPO
from tests.support.servers import ServerThread, upstream_stub_app

MODEL = "gemma-3-270m"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7}


@contextmanager
def stub_upstream(tokens: int = 7, delay_s: float = 0.0) -> Iterator[str]:
    with ServerThread(upstream_stub_app(tokens, delay_s=delay_s)) as upstream:
        yield upstream.url + "/v1"


def stub_catalog_dict(base_url: str, **customer: Any) -> dict[str, Any]:
    raw = catalog_dict(engines=[{"id": "stub", "kind": "upstream", "base_url": base_url, "max_connections": 1024}])
    raw["customers"][0].update(customer)
    # The demo's terms, not required: the routes that accept terms have something to accept.
    raw["licences"] = [{"id": "gemma", "name": "Gemma Terms of Use", "version": "2025-03-24",
                        "url": "https://ai.google.dev/gemma/terms"}]
    raw["models"][0]["licence"] = "gemma"
    return raw


def stub_catalog(base_url: str, **customer: Any) -> Catalog:
    return parse_catalog(stub_catalog_dict(base_url, **customer))


def budget_row(url: str, scope: str = "customer:demo") -> tuple[int, int]:
    """(spent, reserved) of a budget scope, summed over periods."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT COALESCE(SUM(spent), 0), COALESCE(SUM(reserved), 0) FROM budgets "
                                    "WHERE scope = :s"), {"s": scope}).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def count_rows(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def to_toml(raw: dict[str, Any]) -> str:
    """A catalog dict as TOML (tables and arrays of tables of scalars: all a catalog needs)."""
    out: list[str] = []
    for name, value in raw.items():
        if isinstance(value, dict):
            out.append(f"[{name}]")
            out += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for entry in value:
                out.append(f"[[{name}]]")
                out += [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
        out.append("")
    return "\n".join(out)


def serve_setup(tmp_path: Path, url: str, upstream: str, label: str, **customer: Any) -> tuple[Path, Any, str]:
    """What `revshare serve` processes need: the stub catalog written as TOML (every process sharing
    one data dir, so replicas share the host's keys), the migrated ledger, and a demo key."""
    from revshare.ledger.store import Ledger

    raw = stub_catalog_dict(upstream, **customer)
    raw["server"]["data_dir"] = str(tmp_path / "data")
    config = tmp_path / "revshare.toml"
    config.write_text(to_toml(raw))
    ledger = Ledger(url)
    ledger.migrate()
    _, key = ledger.create_key("demo", label)
    return config, ledger, key


def start_gateway(config: Path, url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`revshare serve` in a process of its own, returned once /healthz answers."""
    env = {**os.environ, "REVSHARE_DATABASE_URL": url, "REVSHARE_ADMIN_TOKEN": "rsa_crash_test",
           "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "revshare.cli", "serve", "--config", str(config),
                             "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the gateway did not start:\n" + log.read_text())
        time.sleep(0.1)
