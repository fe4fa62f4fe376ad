"""A close over a chat model and an embedding model, both one licensor's: shared by the tests of
embedding lines apart (settlement, console)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from revshare.config import Catalog, parse_catalog
from revshare.records.record import UsageRecord
from revshare.settlement import Period, SettlementResult, aggregate, settle, validate_settlement, window_for
from tests.support.settlement_builders import M, record

__all__ = ["close", "embedded", "embedding_catalog"]


def embedding_catalog(kind: str = "embedding", contracts: list[dict[str, Any]] | None = None) -> Catalog:
    """llama-3 (chat) and minilm (of `kind`), both Meta's, under one 10% contract (or `contracts`)."""
    return parse_catalog({
        "server": {"host_name": "example-host"},
        "engines": [{"id": "e0", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}],
        "models": [{"id": "llama-3", "engine": "e0", "licensor": "meta"},
                   {"id": "minilm", "engine": "e0", "licensor": "meta", "kind": kind}],
        "prices": [
            {"model": "llama-3", "input_per_million": "1.00", "output_per_million": "2.00",
             "effective_from": "2025-01-01"},
            {"model": "minilm", "input_per_million": "0.05", "output_per_million": "0",
             "effective_from": "2025-01-01"},
        ],
        "customers": [{"name": "alice"}, {"name": "bob"}],
        "licensors": [{"id": "meta", "name": "Meta Platforms"}],
        "contracts": contracts or [{"id": "meta-all", "licensor": "meta", "models": ["llama-3", "minilm"],
                                    "share": "0.10", "effective_from": "2025-01-01"}],
    }, source="revshare.toml")


def embedded(cat: Catalog, when: str, customer: str, prompt: int) -> UsageRecord:
    return replace(record(cat, when, customer, "minilm", prompt, 0), endpoint="embeddings")


def close(cat: Catalog) -> SettlementResult:
    records = [record(cat, "2026-01-05", "alice", "llama-3", 3 * M, M),
               embedded(cat, "2026-01-06", "alice", 30 * M), embedded(cat, "2026-01-20", "bob", 7 * M),
               record(cat, "2026-01-21", "bob", "llama-3", M, 0)]
    window = window_for(cat.contracts, Period.parse("2026-01"))
    result = settle(cat, window, aggregate(records, window))
    assert validate_settlement(result) == [] and result.errors == ()
    return result
