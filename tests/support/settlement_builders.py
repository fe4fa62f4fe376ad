"""Shared builders for settlement tests: a small catalog and usage records."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from revshare.config import Catalog, parse_catalog
from revshare.records.record import Outcome, UsageRecord

_ids = itertools.count(1)


def catalog(contracts: list[dict[str, Any]], **extra: Any) -> Catalog:
    """Models llama-3 (meta), llama-ft (acme, fine-tune of llama-3), gemma (google)."""
    raw: dict[str, Any] = {
        "server": {"host_name": "example-host"},
        "engines": [{"id": "e0", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}],
        "models": [
            {"id": "llama-3", "engine": "e0", "licensor": "meta"},
            {"id": "llama-ft", "engine": "e0", "licensor": "acme", "base_model": "llama-3"},
            {"id": "gemma", "engine": "e0", "licensor": "google"},
        ],
        "prices": [
            {"model": "llama-3", "input_per_million": "1.00", "output_per_million": "2.00", "effective_from": "2025-01-01"},
            {"model": "llama-ft", "input_per_million": "2.00", "output_per_million": "4.00", "effective_from": "2025-01-01"},
            {"model": "gemma", "input_per_million": "1.00", "output_per_million": "1.00", "effective_from": "2025-01-01"},
        ],
        "customers": [{"name": "alice"}, {"name": "bob"}, {"name": "research-lab"}],
        "licensors": [
            {"id": "meta", "name": "Meta Platforms"},
            {"id": "acme", "name": "Acme Fine-Tunes"},
            {"id": "google", "name": "Google"},
        ],
        "contracts": contracts,
    }
    raw.update(extra)
    return parse_catalog(raw, source="revshare.toml")


def record(
    cat: Catalog,
    when: str | datetime,
    customer: str = "alice",
    model: str = "llama-3",
    prompt: int = 0,
    completion: int = 0,
    key_id: str | None = None,
    outcome: Outcome = Outcome.OK,
) -> UsageRecord:
    started = when if isinstance(when, datetime) else datetime.fromisoformat(when).replace(tzinfo=UTC)
    price = cat.price_at(model, started)
    assert price is not None
    amount = (
        (prompt * price.input_per_million + completion * price.output_per_million).scaleb(-6)
        if outcome.charged
        else Decimal(0)
    )
    return UsageRecord(
        id=f"rec_{next(_ids):08d}", started_at=started, ended_at=started + timedelta(seconds=1),
        customer=customer, key_id=key_id or f"key-{customer}", model=model, engine="e0",
        endpoint="chat.completions", outcome=outcome, prompt_tokens=prompt, completion_tokens=completion,
        amount=amount, currency=price.currency,
        price_version=price.version if outcome.charged else "", licensors=cat.licensor_chain(model),
    )


M = 1_000_000
