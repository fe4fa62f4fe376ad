"""The leaf scan of `verify statement` gives the same answers split over two processes as in one.

`scan_range` forks a child for the second half of a large range; its findings (hashes, sums,
deferred leaves, the first bad leaf) must be exactly those of one pass over the whole range, and
the first failure reported must be the same leaf with the same message. A leaf that is not a
projection of this version (another "v", a field missing) is named, in either process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from revshare.settlement import Period
from revshare.tlog import leaf_data
from revshare.verify import scan
from revshare.verify.errors import LeafRangeError

PERIOD = Period(2026, 1)
PLAN = scan.Plan(PERIOD.start, (datetime(2026, 1, 15, tzinfo=UTC),), (400,))
N, FIRST, AFTER = 1000, 17, 100


def projection(seq: int) -> dict[str, Any]:
    day = 1 + seq % 33  # some in February: deferred; a few started in December: late
    started = f"2026-01-{day:02d}T00:00:00Z" if day <= 31 else f"2025-12-{day - 2:02d}T00:00:00Z"
    if day == 32:
        started = "2026-02-01T00:00:00Z"
    return {"v": 1, "seq": seq, "record_id": f"rec_{seq}", "started_at": started, "ended_at": started,
            "customer": f"c{seq % 7}", "key": f"k{seq % 5}", "model": "m", "licensors": ["google"],
            "endpoint": "chat.completions", "stream": False, "prompt_tokens": seq, "completion_tokens": 2 * seq,
            "cached_tokens": 0, "outcome": "engine_error" if seq % 11 == 0 else "ok", "price_version": "p",
            "amount": "0", "currency": "USD", "estimated": False}


def raws() -> list[bytes]:
    return [leaf_data(projection(AFTER + 1 + i)) for i in range(N)]


def scan_both(leaves: list[bytes], monkeypatch: pytest.MonkeyPatch) -> tuple[list[scan.Scan], list[scan.Scan]]:
    args = (FIRST, AFTER, AFTER + N, PERIOD.end, PLAN, "st.json")
    one = scan.scan_range(leaves, *args)
    monkeypatch.setattr(scan, "_split", lambda n: True)  # even with other tests' threads alive
    two = scan.scan_range(leaves, *args)
    assert (len(one), len(two)) == (1, 2)  # the second really ran in a forked child
    return one, two


def merged(scans: list[scan.Scan]) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for s in scans:
        for k, v in s.sums.items():
            acc = out.setdefault(k, [0, 0, 0])
            for i in range(3):
                acc[i] += v[i]
    return out


def check(scans: list[scan.Scan]) -> str:
    try:
        return repr(scan.check_scans(scans, FIRST, AFTER, AFTER + N, "st.json"))
    except LeafRangeError as exc:
        return str(exc)


def test_two_processes_find_what_one_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = scan_both(raws(), monkeypatch)
    assert b"".join(s.hashes for s in two) == one[0].hashes
    assert merged(two) == merged(one) and len(merged(one)) > 10
    assert [d for s in two for d in s.deferred] == one[0].deferred and one[0].deferred
    assert check(two) == check(one) == repr((AFTER + 1, AFTER + N))


@pytest.mark.parametrize(("where", "change", "want"), [
    (700, lambda ls: ls.__setitem__(700, ls[699]), "leaf 717 (leaves.jsonl line 701) has seq 800, want one in (800,"),
    (500, lambda ls: ls.__setitem__(500, ls[499]), "leaf 517 (leaves.jsonl line 501) has seq 600, want one in (600,"),
    (499, lambda ls: ls.__setitem__(499, ls[498]), "leaf 516 (leaves.jsonl line 500) has seq 599, want one in (599,"),
    (0, lambda ls: ls.__setitem__(0, leaf_data(projection(AFTER))), "leaf 17 (leaves.jsonl line 1) has seq 100"),
    (900, lambda ls: (ls.__setitem__(3, ls[2]), ls.__setitem__(900, b"{not json")),  # parse errors come first
     "leaf 917 (leaves.jsonl line 901) is not a usage projection"),
    (600, lambda ls: ls.__setitem__(600, ls[600].replace(b'"seq":', b'"sq":')), "line 601) is not a usage projection"),
    (800, lambda ls: ls.__setitem__(800, ls[800].replace(b'"v":1', b'"v":2')),
     'leaf 817 (leaves.jsonl line 801) is not a usage projection: version "v": 2, this reader knows "v": 1'),
    (200, lambda ls: ls.__setitem__(200, ls[200].replace(b'"v":1', b'"v":2')),
     'leaf 217 (leaves.jsonl line 201) is not a usage projection: version "v": 2, this reader knows "v": 1'),
    (700, lambda ls: ls.__setitem__(700, ls[700].replace(b'"amount":"0",', b"")),  # a field the scan does not read
     "leaf 717 (leaves.jsonl line 701) is not a usage projection: fields: missing amount"),
    (900, lambda ls: ls.__setitem__(900, ls[900].replace(b',"v":1', b"")),
     'leaf 917 (leaves.jsonl line 901) is not a usage projection: no version field "v", want "v": 1'),
    (300, lambda ls: ls.__setitem__(300, b"[1, 2]"),
     "leaf 317 (leaves.jsonl line 301) is not a usage projection: a list, want a JSON object"),
], ids=["seq-repeated-second-half", "seq-repeated-at-the-split", "seq-repeated-before-the-split",
        "seq-not-after-the-previous-statement", "bad-json-second-half", "field-missing-second-half",
        "version-2-second-half", "version-2-first-half", "unread-field-missing", "version-missing",
        "not-an-object"])
def test_the_first_bad_leaf_is_named_the_same_way(monkeypatch: pytest.MonkeyPatch, where: int, change: Any,
                                                  want: str) -> None:
    leaves = raws()
    change(leaves)
    one, two = scan_both(leaves, monkeypatch)
    assert check(two) == check(one)
    assert want in check(one)
