"""Contract validation: each bad catalog names the file, the entry and the field."""

from __future__ import annotations

from typing import Any

import pytest

from revshare.config import ConfigError
from tests.support.settlement_builders import catalog

BASE: dict[str, Any] = {"id": "meta-2026", "licensor": "meta", "lineage": "llama-3", "share": "0.15",
                        "effective_from": "2026-01-01"}


def error_of(contracts: list[dict[str, Any]], **extra: Any) -> str:
    with pytest.raises(ConfigError) as info:
        catalog(contracts, **extra)
    return str(info.value)


def test_a_valid_catalog_loads() -> None:
    cat = catalog([BASE])
    assert cat.contracts[0].share is not None and str(cat.contracts[0].share) == "0.15"


def test_shares_over_100_percent_name_the_contracts() -> None:
    msg = error_of([BASE, {**BASE, "id": "acme", "licensor": "acme", "lineage": None, "models": ["llama-ft"],
                           "share": "0.90"}])
    assert msg.startswith("revshare.toml: contracts[1] (id='acme').share: shares on model 'llama-ft' sum to 1.05")
    assert "'acme', 'meta-2026'" in msg


def test_shares_that_do_not_overlap_in_time_may_sum_over_100_percent() -> None:
    catalog([{**BASE, "effective_to": "2026-02-01", "share": "0.6"},
             {**BASE, "id": "other", "effective_from": "2026-02-01", "share": "0.6"}])


def test_tier_shares_count_with_their_largest_band() -> None:
    msg = error_of([BASE, {**BASE, "id": "t", "share": None, "tiers": [{"up_to": "10", "share": "0.9"}, {"share": "0.1"}]}])
    assert "contracts[1] (id='t').tiers: shares on model 'llama-3' sum to 1.05" in msg


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"share": 0.15}, "contracts[0] (id='meta-2026').share", "never a float"),
        ({"minimum_guarantee": 100.0}, "contracts[0] (id='meta-2026').minimum_guarantee", "never a float"),
        ({"licensor": "nobody"}, "contracts[0] (id='meta-2026').licensor", "unknown licensor 'nobody'"),
        ({"share": "1.5"}, "contracts[0] (id='meta-2026').share", "between 0 and 1"),
        ({"tiers": [{"up_to": "10", "share": "0.1"}]}, "contracts[0] (id='meta-2026')", "exactly one of share, tiers"),
        ({"share": None, "tiers": [{"up_to": "10", "share": "0.1"}, {"up_to": "5", "share": "0.1"}, {"share": "0"}]},
         "contracts[0] (id='meta-2026')", "tiers[1]: up_to must increase"),
        ({"share": None, "tiers": [{"up_to": "10", "share": "0.1"}]}, "contracts[0] (id='meta-2026')",
         "the last band must leave up_to out"),
        ({"lineage": None}, "contracts[0] (id='meta-2026')", "needs a scope"),
        ({"lineage": "nope"}, "contracts[0] (id='meta-2026').lineage", "unknown model 'nope'"),
        ({"models": ["mistral-*"]}, "contracts[0] (id='meta-2026').models", "'mistral-*' matches no model"),
        ({"exempt_customers": ["carol"]}, "contracts[0] (id='meta-2026').exempt_customers", "unknown customer"),
        ({"currency": "EUR"}, "contracts[0] (id='meta-2026').currency", "priced in USD"),
        ({"effective_to": "2025-01-01"}, "contracts[0] (id='meta-2026')", "effective_to must be after"),
        ({"period": "week"}, "contracts[0] (id='meta-2026').period", "'month'"),
        ({"colour": "red"}, "contracts[0] (id='meta-2026').colour", "unknown field"),
    ],
)
def test_bad_contract(change: dict[str, Any], where: str, message: str) -> None:
    msg = error_of([{**BASE, **change}])
    assert msg.startswith(f"revshare.toml: {where}"), msg
    assert message in msg


def test_overlapping_versions_of_one_contract() -> None:
    msg = error_of([{**BASE, "effective_to": "2026-03-01"}, {**BASE, "effective_from": "2026-02-01", "share": "0.2"}])
    assert "contracts[1] (id='meta-2026').effective_from: overlaps contracts[0]" in msg


def test_versions_must_agree_on_licensor() -> None:
    msg = error_of([{**BASE, "effective_to": "2026-02-01"},
                    {**BASE, "licensor": "acme", "effective_from": "2026-02-01"}])
    assert "contracts[1] (id='meta-2026').licensor: versions of contract 'meta-2026' must agree" in msg


def test_duplicate_licensor() -> None:
    msg = error_of([BASE], licensors=[{"id": "meta", "name": "A"}, {"id": "meta", "name": "B"}])
    assert "licensors[1] (id='meta').id: duplicate id 'meta'" in msg


def test_price_with_more_than_six_places() -> None:
    prices = [{"model": m, "input_per_million": "0.0000001", "output_per_million": "1", "effective_from": "2025-01-01"}
              for m in ("llama-3", "llama-ft", "gemma")]
    msg = error_of([BASE], prices=prices)
    assert "prices[0] (model='llama-3').input_per_million: a price per million tokens has at most 6" in msg
