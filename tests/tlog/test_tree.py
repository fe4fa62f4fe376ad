"""The fast tree against the RFC's recursive definitions, and the store contract."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revshare.tlog import (
    EMPTY_ROOT,
    EmptyTreeProofError,
    HashSizeError,
    InconsistentTreeError,
    IndexOutOfRangeError,
    MemoryStore,
    MerkleTree,
    MissingNodeError,
    NodeKey,
    StaleAppendError,
    TreeSizeError,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)
from tests.support.tlog_reference import README_LEAVES, mth, path, proof

MAX = 300
LEAVES = [hash_leaf(i.to_bytes(4, "big")) for i in range(MAX)]


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    t = MerkleTree(MemoryStore())
    t.append_many(LEAVES)
    return t


sizes = st.integers(1, MAX)


def test_readme_root() -> None:
    t = MerkleTree(MemoryStore())
    for x in README_LEAVES:
        t.append(hash_leaf(bytes.fromhex(x)))
    assert t.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_empty_tree() -> None:
    t = MerkleTree(MemoryStore())
    assert t.size == 0
    assert t.root() == EMPTY_ROOT
    assert t.append_many([]) == 0
    with pytest.raises(IndexOutOfRangeError):
        t.inclusion_proof(0)


@settings(max_examples=200, deadline=None)
@given(sizes)
def test_roots_equal_reference(tree: MerkleTree, size: int) -> None:
    assert tree.root(size) == mth(LEAVES[:size])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_inclusion_equals_reference_and_verifies(tree: MerkleTree, data: st.DataObject) -> None:
    size = data.draw(sizes)
    index = data.draw(st.integers(0, size - 1))
    got = tree.inclusion_proof(index, size)
    assert got == path(index, LEAVES[:size])
    verify_inclusion(index, size, LEAVES[index], got, tree.root(size))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_consistency_equals_reference_and_verifies(tree: MerkleTree, data: st.DataObject) -> None:
    size2 = data.draw(sizes)
    size1 = data.draw(st.integers(1, size2))
    got = tree.consistency_proof(size1, size2)
    assert got == proof(size1, LEAVES[:size2])
    verify_consistency(size1, size2, got, tree.root(size1), tree.root(size2))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=7))
def test_batching_does_not_change_the_tree(batches: list[int]) -> None:
    """Any split into append / append_many calls writes the same nodes and roots."""
    t = MerkleTree(MemoryStore())
    start = 0
    for n in batches:
        if n == 1:
            assert t.append(LEAVES[start]) == start
        else:
            assert t.append_many(LEAVES[start : start + n]) == start
        start += n
        assert t.size == start
        assert t.root() == mth(LEAVES[:start])


def test_a_second_tree_on_the_same_store_sees_the_appends(tree: MerkleTree) -> None:
    store = MemoryStore()
    writer, reader = MerkleTree(store), MerkleTree(store)
    writer.append_many(LEAVES[:10])
    assert reader.root(10) == writer.root()  # refreshes on a size beyond its cache
    reader.append(LEAVES[10])  # refreshes its frontier before writing
    assert reader.root() == mth(LEAVES[:11])
    writer.append(LEAVES[11])
    assert writer.root() == mth(LEAVES[:12])


def test_an_append_prepared_then_applied_is_the_append_and_writes_only_when_applied() -> None:
    store = MemoryStore()
    tree = MerkleTree(store)
    tree.append_many(LEAVES[:5])
    prepared = tree.prepare_append(LEAVES[5:12])
    assert (prepared.first, prepared.size) == (5, 12)
    assert store.size() == 5 and tree.size == 5 and tree.root() == mth(LEAVES[:5])  # nothing written yet
    assert tree.apply(prepared) == 5
    assert store.size() == 12 and tree.root() == mth(LEAVES[:12])
    assert MerkleTree(store).root() == mth(LEAVES[:12])  # the nodes are in the store, not only in memory


def test_an_append_prepared_at_another_size_is_refused_whole() -> None:
    store = MemoryStore()
    tree, other = MerkleTree(store), MerkleTree(store)
    tree.append_many(LEAVES[:3])
    prepared = tree.prepare_append(LEAVES[3:6])
    other.append_many(LEAVES[3:4])  # another writer moved the tree meanwhile
    with pytest.raises(StaleAppendError, match="prepared for a tree of 3 leaves; the tree now has 4") as refused:
        tree.apply(prepared)
    assert (refused.value.prepared_at, refused.value.size) == (3, 4)
    assert store.size() == 4 and MerkleTree(store).root() == mth(LEAVES[:4])
    assert tree.apply(tree.prepare_append(LEAVES[4:6])) == 4 and tree.root() == mth(LEAVES[:6])


def test_leaf_hash(tree: MerkleTree) -> None:
    assert tree.leaf_hash(17) == LEAVES[17]
    with pytest.raises(IndexOutOfRangeError):
        tree.leaf_hash(MAX)


def test_index_beyond_size(tree: MerkleTree) -> None:
    with pytest.raises(IndexOutOfRangeError, match="index 5 is beyond size: want index < 5"):
        tree.inclusion_proof(5, 5)
    with pytest.raises(IndexOutOfRangeError):
        tree.inclusion_proof(-1, 5)


def test_size_beyond_tree(tree: MerkleTree) -> None:
    with pytest.raises(TreeSizeError):
        tree.root(MAX + 1)
    with pytest.raises(TreeSizeError):
        tree.inclusion_proof(0, MAX + 1)
    with pytest.raises(TreeSizeError):
        tree.consistency_proof(1, MAX + 1)
    with pytest.raises(TreeSizeError):
        tree.root(-1)


def test_consistency_preconditions(tree: MerkleTree) -> None:
    with pytest.raises(InconsistentTreeError):
        tree.consistency_proof(5, 4)
    with pytest.raises(EmptyTreeProofError):
        tree.consistency_proof(0, 4)
    assert tree.consistency_proof(4, 4) == []


def test_append_refuses_a_hash_of_the_wrong_size() -> None:
    t = MerkleTree(MemoryStore())
    with pytest.raises(HashSizeError):
        t.append_many([LEAVES[0], b"short"])
    assert t.size == 0 and t.root() == EMPTY_ROOT  # nothing was written


class CountingStore(MemoryStore):
    """Counts store reads, to pin that proofs cost one get_many of O(log n) keys."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.calls.append(len(keys))
        return super().get_many(keys)


def test_proofs_read_log_n_nodes_in_one_call() -> None:
    store = CountingStore()
    t = MerkleTree(store)
    n = 100_003
    t.append_many(hash_leaf(i.to_bytes(4, "big")) for i in range(n))
    store.calls.clear()
    t.root()
    assert store.calls == []  # the current root comes from the in-memory frontier
    t.inclusion_proof(n // 3)
    t.consistency_proof(n // 2, n - 1)
    t.root(n - 7)
    assert len(store.calls) == 3
    assert all(c <= 2 * n.bit_length() for c in store.calls)


class LosingStore(MemoryStore):
    """A store that drops every node it is asked for."""

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {}


def test_missing_node_is_reported() -> None:
    t = MerkleTree(LosingStore())
    t.append_many(LEAVES[:5])
    with pytest.raises(MissingNodeError, match="store has no node at level 0"):
        t.inclusion_proof(0)


def test_memory_store_refuses_gaps_and_rewrites() -> None:
    store = MemoryStore()
    store.put_many([((0, 0), LEAVES[0])], 1)
    with pytest.raises(MissingNodeError):
        store.put_many([((0, 2), LEAVES[2])], 3)
    with pytest.raises(ValueError, match="another hash"):
        store.put_many([((0, 0), LEAVES[1])], 1)
    store.put_many([((0, 0), LEAVES[0])], 1)  # same hash again: harmless
    with pytest.raises(MissingNodeError):  # all or nothing: the good node is rolled back
        store.put_many([((0, 1), LEAVES[1]), ((1, 0), LEAVES[9]), ((3, 1), LEAVES[3])], 2)
    assert store.size() == 1
    assert store.get_many([(0, 0), (0, 1), (5, 0)]) == {(0, 0): LEAVES[0]}
