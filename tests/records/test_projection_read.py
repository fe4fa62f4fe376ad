"""`read_projection`, the reading side of the leaf projection: this version, exactly these fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from revshare.records.projection import (
    PROJECTION_FIELDS,
    PROJECTION_VERSION,
    ProjectionFormatError,
    project,
    read_projection,
)
from revshare.records.record import Outcome, UsageRecord
from revshare.tlog import leaf_data

RECORD = UsageRecord(id="rec_x", started_at=datetime(2026, 1, 1, tzinfo=UTC), ended_at=datetime(2026, 1, 1, 0, 0, 1,
                     tzinfo=UTC), customer="c", key_id="k", model="m", engine="e", endpoint="completions",
                     outcome=Outcome.OK, prompt_tokens=1, completion_tokens=2, amount=Decimal("0.5"),
                     currency="USD", price_version="p", seq=9)


def leaf() -> dict[str, Any]:
    """A projection as a verifier gets it: the leaf bytes, parsed."""
    parsed: dict[str, Any] = json.loads(leaf_data(project(RECORD, b"s" * 32)))
    return parsed


def test_a_leaf_reads_back_as_it_was_written() -> None:
    assert read_projection(leaf(), 7) == project(RECORD, b"s" * 32)
    assert sorted(leaf()) == sorted(PROJECTION_FIELDS) and leaf()["v"] == PROJECTION_VERSION


def without(field: str) -> dict[str, Any]:
    d = leaf()
    del d[field]
    return d


@pytest.mark.parametrize(("data", "reason"), [
    ({**leaf(), "v": 2}, 'version "v": 2, this reader knows "v": 1'),
    ({**leaf(), "v": "1"}, "version \"v\": '1', this reader knows \"v\": 1"),
    (without("v"), 'no version field "v", want "v": 1'),
    (without("seq"), "fields: missing seq"),
    (without("amount") | {"amt": "0.5"}, "fields: missing amount; unknown amt"),
    ({**leaf(), "prompt": "hello"}, "fields: unknown prompt"),
    ([leaf()], "a list, want a JSON object"),
    (None, "a NoneType, want a JSON object"),
], ids=["version-2", "version-a-string", "version-missing", "field-missing", "field-renamed", "field-added",
        "an-array", "null"])
def test_a_leaf_of_another_form_names_its_index_and_what_is_wrong(data: Any, reason: str) -> None:
    with pytest.raises(ProjectionFormatError) as caught:
        read_projection(data, 41)
    assert (caught.value.index, caught.value.reason) == (41, reason)
    assert str(caught.value) == f"leaf 41 is not a usage projection: {reason}"
    assert isinstance(caught.value, ValueError)  # not a KeyError
