"""The leaf scan of `verify statement` gives the same answers split over two processes as in one.

`scan_range` streams leaves.jsonl and forks a child for the second half of a large range; its
findings (the compact range of the leaf hashes, sums, deferred leaves, the first bad leaf) must be
exactly those of one pass over the whole range, and the first failure reported must be the same
leaf with the same message. A leaf that is not a projection of this version (another "v", a field
missing) is named, in either process. The compact ranges of slices that start anywhere append to
the range before them as the leaves would (`push_node`), checked against the reference tree.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revshare.settlement import Period
from revshare.settlement.bundle_layout import LEAVES
from revshare.tlog import MemoryStore, MerkleTree, hash_leaf, leaf_data
from revshare.tlog.compact import append_leaves, fold, perfect_tiles
from revshare.verify import scan
from revshare.verify.errors import LeafRangeError
from revshare.verify.leaves import LeafFile

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


def opened(directory: Path, leaves: list[bytes]) -> Iterator[LeafFile]:
    (directory / LEAVES).write_bytes(b"".join(line + b"\n" for line in leaves))
    f = LeafFile.open(directory, len(leaves))
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def scan_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def run(leaves: list[bytes]) -> tuple[list[scan.Scan], list[scan.Scan]]:
        args = (FIRST, AFTER, AFTER + N, PERIOD.end, PLAN, "st.json")
        for f in opened(tmp_path, leaves):
            with monkeypatch.context() as m:
                m.setattr(scan, "_split", lambda n: False)
                one = scan.scan_range(f, *args)
                m.setattr(scan, "_split", lambda n: True)  # even with other tests' threads alive
                two = scan.scan_range(f, *args)
        assert (len(one), len(two)) == (1, 2)  # the second really ran in a forked child
        return one, two
    return run


def border(hashes: list[bytes]) -> list[scan.Node]:
    """The border of the tree of these leaf hashes, as a compact range."""
    tiles: list[bytes] = []
    append_leaves(tiles, 0, hashes)
    return [(lv, i, h) for (lv, i), h in zip(perfect_tiles(0, len(hashes)), tiles, strict=True)]


def root(scans: list[scan.Scan]) -> bytes:
    """The root of FIRST zero hashes, then the scanned leaves."""
    nodes = border([bytes(32)] * FIRST)
    for s in scans:
        for node in s.nodes:
            scan.push_node(nodes, *node)
    return fold([h for _, _, h in nodes])


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


def test_two_processes_find_what_one_finds(scan_both: Any) -> None:
    leaves = raws()
    one, two = scan_both(leaves)
    tree = MerkleTree(MemoryStore())
    tree.append_many([bytes(32)] * FIRST)  # FIRST zero hashes stand for the log before the range
    tree.append_many(hash_leaf(x) for x in leaves)
    assert root(one) == root(two) == tree.root(FIRST + N)
    assert [s.length for s in two] == [N // 2, N - N // 2]
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
def test_the_first_bad_leaf_is_named_the_same_way(scan_both: Any, where: int, change: Any, want: str) -> None:
    leaves = raws()
    change(leaves)
    one, two = scan_both(leaves)
    assert check(two) == check(one)
    assert want in check(one)
    assert root(two) == root(one)  # a leaf that fails is hashed all the same: step (2) comes first


@settings(max_examples=200, deadline=None, database=None)
@given(m=st.integers(0, 40), cuts=st.lists(st.integers(0, 60), max_size=4), extra=st.integers(0, 60))
def test_compact_ranges_of_slices_anywhere_append_to_the_root(m: int, cuts: list[int], extra: int) -> None:
    """Slices [m, c1), [c1, c2), ... of any sizes, each folded alone from nothing, then pushed in order
    onto the border of [0, m): the root of the reference tree over the same leaves."""
    n = m + extra
    hashes = [hash_leaf(b"%d" % i) for i in range(n)]
    tree = MerkleTree(MemoryStore())
    tree.append_many(hashes)
    edges = sorted({m, n, *(min(max(c, m), n) for c in cuts)})
    nodes = border(hashes[:m])
    for lo, hi in itertools.pairwise(edges):
        piece: list[scan.Node] = []
        for i in range(lo, hi):
            scan.push_node(piece, 0, i, hashes[i])
        for node in piece:
            scan.push_node(nodes, *node)
    assert [(lv, i) for lv, i, _ in nodes] == perfect_tiles(0, n)
    assert fold([h for _, _, h in nodes]) == tree.root(n)


@pytest.mark.parametrize("block", [64, 997, 4096])
def test_reading_a_block_at_a_time_finds_what_one_read_finds(scan_both: Any, monkeypatch: pytest.MonkeyPatch,
                                                            block: int) -> None:
    """Blocks that end inside a line, or hold a single line, change nothing (the scan holds one block at a time)."""
    from revshare.verify import leaves as leaves_module

    whole, _ = scan_both(raws())
    monkeypatch.setattr(leaves_module, "BLOCK", block)
    one, two = scan_both(raws())
    for s in (one, two):
        assert root(s) == root(whole)
        assert merged(s) == merged(whole)
        assert [d for x in s for d in x.deferred] == whole[0].deferred
        assert check(s) == check(whole)
