"""Builders for statement-bundle tests: a two-licensor catalog (tiers, a guarantee, a contract
change mid-period) and charged records across months."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from revshare.records.record import Outcome, UsageRecord

PRICES = {"gemma-3-270m": ("0.10", "0.40"), "llama-3-8b": ("0.20", "0.60")}
_n = iter(range(1, 10**6))


def catalog_toml(url: str, data_dir: Path) -> str:
    return f"""
[server]
host_name = "test-host"
database_url = "{url}"
data_dir = "{data_dir}"

[[engines]]
id = "local"
kind = "embedded"

[[models]]
id = "gemma-3-270m"
engine = "local"
licensor = "google"

[[models]]
id = "gemma-ft"
engine = "local"
base_model = "gemma-3-270m"

[[models]]
id = "llama-3-8b"
engine = "local"
licensor = "meta"

[[prices]]
model = "gemma-3-270m"
input_per_million = "0.10"
output_per_million = "0.40"
effective_from = 2026-01-01T00:00:00Z

[[prices]]
model = "gemma-ft"
input_per_million = "0.10"
output_per_million = "0.40"
effective_from = 2026-01-01T00:00:00Z

[[prices]]
model = "llama-3-8b"
input_per_million = "0.20"
output_per_million = "0.60"
effective_from = 2026-01-01T00:00:00Z

[[customers]]
name = "acme"

[[customers]]
name = "demo"

[[customers]]
name = "internal"

[[licensors]]
id = "google"
name = "Google LLC"

[[licensors]]
id = "meta"
name = "Meta Platforms"

[[contracts]]
id = "google-gemma"
licensor = "google"
lineage = "gemma-3-270m"
basis = "net"
tiers = [{{ up_to = "1.00", share = "0.10" }}, {{ share = "0.05" }}]
minimum_guarantee = "0.50"
recoupable = true
exempt_customers = ["internal"]
effective_from = 2026-01-01
effective_to = 2026-02-15

[[contracts]]
id = "google-gemma"
licensor = "google"
lineage = "gemma-3-270m"
basis = "net"
share = "0.12"
minimum_guarantee = "0.50"
recoupable = true
effective_from = 2026-02-15

[[contracts]]
id = "meta-llama"
licensor = "meta"
models = ["llama-*"]
share = "0.20"
effective_from = 2026-01-01
"""


def rec(customer: str, started: datetime, prompt: int, completion: int, model: str = "gemma-3-270m",
        outcome: Outcome = Outcome.OK) -> UsageRecord:
    inp, outp = (Decimal(p) for p in PRICES.get(model, PRICES["gemma-3-270m"]))
    licensors = ("meta",) if model.startswith("llama") else ("google",)
    return UsageRecord(
        id=f"rec_sb{next(_n):08d}", started_at=started, ended_at=started, customer=customer, key_id=f"key_{customer}",
        model=model, engine="local", endpoint="chat.completions", outcome=outcome, prompt_tokens=prompt,
        completion_tokens=completion, amount=(prompt * inp + completion * outp).scaleb(-6) if outcome.charged else
        Decimal(0), currency="USD", price_version=f"{model}@2026-01-01T00:00:00Z" if outcome.charged else "",
        licensors=licensors)


def at(month: int, d: int, hour: int = 12) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=UTC)
