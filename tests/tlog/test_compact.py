"""The compact range (border, fold, append) against the RFC's recursive tree in tests/support."""

from __future__ import annotations

import pytest

from revshare.tlog import EMPTY_ROOT, HashSizeError, NodeKey, hash_leaf
from revshare.tlog.compact import append_leaves, fold, perfect_tiles
from tests.support.tlog_reference import mth

MAX = 64
LEAVES = [hash_leaf(i.to_bytes(4, "big")) for i in range(MAX + 1)]
SIZES = range(MAX + 1)


def border(size: int) -> list[bytes]:
    """The border of [0, size) by the reference tree: the MTH of each perfect tile."""
    return [mth(LEAVES[i << level:(i + 1) << level]) for level, i in perfect_tiles(0, size)]


def node(key: NodeKey) -> bytes:
    level, i = key
    return mth(LEAVES[i << level:(i + 1) << level])


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [
        (0, 0, []),
        (0, 7, [(2, 0), (1, 2), (0, 6)]),
        (8, 11, [(1, 4), (0, 10)]),
        (16, 32, [(4, 1)]),
    ],
)
def test_perfect_tiles(start: int, end: int, want: list[NodeKey]) -> None:
    assert perfect_tiles(start, end) == want


@pytest.mark.parametrize("size", SIZES)
def test_the_border_folds_to_the_root(size: int) -> None:
    assert len(border(size)) == size.bit_count()
    assert fold(border(size)) == mth(LEAVES[:size])


def test_fold_of_nothing_is_the_empty_root() -> None:
    assert fold([]) == EMPTY_ROOT == mth([])


@pytest.mark.parametrize("start", [3, 8, 12, 16, 40])
def test_fold_gives_any_node_of_the_tree_from_its_tiles(start: int) -> None:
    """A node [start, end) that is not perfect (it touches the right edge) folds from its tiles."""
    end = start + (start & -start)
    for stop in range(start + 1, min(end, MAX) + 1):
        assert fold([node(k) for k in perfect_tiles(start, stop)]) == mth(LEAVES[start:stop])


@pytest.mark.parametrize("size", SIZES)
def test_appending_all_at_once_gives_the_border_and_visits_every_node(size: int) -> None:
    got: list[bytes] = []
    visited: list[tuple[NodeKey, bytes]] = []
    assert append_leaves(got, 0, LEAVES[:size], visited.append) == size
    assert got == border(size)
    assert fold(got) == mth(LEAVES[:size])
    # every perfect subtree of [0, size) (the leaves are level 0), when its last leaf comes, lowest first
    want = sorted(((level, j) for level in range(size.bit_length()) for j in range(size >> level)),
                  key=lambda k: ((k[1] + 1) << k[0], k[0]))
    assert [k for k, _ in visited] == want
    assert all(h == node(k) for k, h in visited)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cut", [0, 1, 2, 3, 5, 8, 13, 21, 32, 63, 64])
def test_appending_in_pieces_gives_what_appending_at_once_gives(size: int, cut: int) -> None:
    if cut > size:
        return
    at_once: list[bytes] = []
    append_leaves(at_once, 0, LEAVES[:size])
    pieces = border(cut)  # start from the border of [0, cut), as a verifier does from a bundle's
    assert append_leaves(pieces, cut, LEAVES[cut:size]) == size
    assert pieces == at_once


def test_appending_one_leaf_at_a_time() -> None:
    b: list[bytes] = []
    for size in SIZES:
        assert fold(b) == mth(LEAVES[:size])
        append_leaves(b, size, [LEAVES[size]])


def test_append_requires_the_border_of_its_size() -> None:
    with pytest.raises(ValueError, match="a border of 1 hashes; a tree of size 6 has 2"):
        append_leaves([LEAVES[0]], 6, [LEAVES[6]])


def test_append_refuses_a_hash_of_the_wrong_size() -> None:
    with pytest.raises(HashSizeError):
        append_leaves([], 0, [LEAVES[0], b"short"])
