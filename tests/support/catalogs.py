"""Small catalogs for tests: the embedded Gemma model, a price, three customers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revshare.config import Catalog, parse_catalog


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


def gateway_catalog_toml(ledger_url: str, data_dir: Path) -> str:
    return f"""
[server]
host_name = "test-host"
database_url = "{ledger_url}"
data_dir = "{data_dir}"

[[engines]]
id = "local"
kind = "embedded"

[[models]]
id = "gemma-3-270m"
engine = "local"
licensor = "google"

[[prices]]
model = "gemma-3-270m"
input_per_million = "0.10"
output_per_million = "0.40"
effective_from = 2026-01-01T00:00:00Z

[[customers]]
name = "demo"

[[customers]]
name = "acme"
models = ["gemma-*"]

[[customers]]
name = "locked"
models = ["llama-*"]
"""
