"""Tampering with a leaf, a proof, a root, an index or the leaf order: each its own error."""

from __future__ import annotations

import pytest

from revshare.tlog import (
    EmptyTreeProofError,
    HashSizeError,
    InconsistentTreeError,
    IndexOutOfRangeError,
    MemoryStore,
    MerkleTree,
    ProofSizeError,
    RootMismatchError,
    hash_leaf,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from revshare.tlog.proof import decomp_incl_proof, inner_proof_size

LEAVES = [hash_leaf(f"record {i}".encode()) for i in range(21)]


def _flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    t = MerkleTree(MemoryStore())
    t.append_many(LEAVES)
    return t


def test_flipped_bit_in_leaf(tree: MerkleTree) -> None:
    proof = tree.inclusion_proof(6)
    with pytest.raises(RootMismatchError, match=r"calculated root \w+ does not match expected"):
        verify_inclusion(6, 21, _flip(LEAVES[6]), proof, tree.root())


@pytest.mark.parametrize("i", range(5))
def test_flipped_bit_in_inclusion_proof(tree: MerkleTree, i: int) -> None:
    proof = tree.inclusion_proof(6)
    assert len(proof) == 5
    proof[i] = _flip(proof[i], 3)
    with pytest.raises(RootMismatchError):
        verify_inclusion(6, 21, LEAVES[6], proof, tree.root())


def test_flipped_bit_in_root(tree: MerkleTree) -> None:
    with pytest.raises(RootMismatchError) as e:
        verify_inclusion(6, 21, LEAVES[6], tree.inclusion_proof(6), _flip(tree.root()))
    assert e.value.got == tree.root() and e.value.want == _flip(tree.root())


def test_index_at_or_beyond_size(tree: MerkleTree) -> None:
    with pytest.raises(IndexOutOfRangeError, match="index 21 is beyond size: want index < 21"):
        verify_inclusion(21, 21, LEAVES[0], [], tree.root())
    with pytest.raises(IndexOutOfRangeError):
        verify_inclusion(-1, 21, LEAVES[0], [], tree.root())
    with pytest.raises(IndexOutOfRangeError):
        verify_inclusion(0, 0, LEAVES[0], [], tree.root())


def test_wrong_index_with_a_right_proof(tree: MerkleTree) -> None:
    with pytest.raises((RootMismatchError, ProofSizeError)):
        verify_inclusion(7, 21, LEAVES[6], tree.inclusion_proof(6), tree.root())


def test_reordered_leaves() -> None:
    swapped = list(LEAVES)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    honest, other = MerkleTree(MemoryStore()), MerkleTree(MemoryStore())
    honest.append_many(LEAVES)
    other.append_many(swapped)
    # The swapped log's proof for leaf 3 does not lead to the honest root...
    with pytest.raises(RootMismatchError):
        verify_inclusion(3, 21, swapped[3], other.inclusion_proof(3), honest.root())
    # ...nor is the swapped log consistent with the honest prefix.
    with pytest.raises(RootMismatchError, match="root1"):
        verify_consistency(5, 21, other.consistency_proof(5), honest.root(5), other.root())


def test_wrong_proof_length(tree: MerkleTree) -> None:
    proof = tree.inclusion_proof(6)
    with pytest.raises(ProofSizeError, match="proof has 6 hashes, want 5"):
        verify_inclusion(6, 21, LEAVES[6], [*proof, proof[0]], tree.root())
    with pytest.raises(ProofSizeError, match="proof has 4 hashes, want 5"):
        verify_inclusion(6, 21, LEAVES[6], proof[:-1], tree.root())


def test_leaf_hash_of_wrong_size(tree: MerkleTree) -> None:
    with pytest.raises(HashSizeError, match="leaf hash has 3 bytes, want 32"):
        verify_inclusion(6, 21, b"abc", tree.inclusion_proof(6), tree.root())


@pytest.mark.parametrize(("size1", "size2"), [(1, 21), (4, 21), (6, 8), (7, 21), (20, 21)])
def test_consistency_tamper(tree: MerkleTree, size1: int, size2: int) -> None:
    proof = tree.consistency_proof(size1, size2)
    root1, root2 = tree.root(size1), tree.root(size2)
    verify_consistency(size1, size2, proof, root1, root2)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = _flip(bad[i], 4)
        with pytest.raises(RootMismatchError):
            verify_consistency(size1, size2, bad, root1, root2)
    with pytest.raises(RootMismatchError):
        verify_consistency(size1, size2, proof, _flip(root1), root2)
    with pytest.raises(RootMismatchError, match="root2"):
        verify_consistency(size1, size2, proof, root1, _flip(root2))
    with pytest.raises(ProofSizeError):
        verify_consistency(size1, size2, [], root1, root2)


def test_consistency_preconditions(tree: MerkleTree) -> None:
    r = tree.root(4)
    with pytest.raises(InconsistentTreeError, match=r"size2 \(3\) < size1 \(4\)"):
        verify_consistency(4, 3, [], r, r)
    with pytest.raises(EmptyTreeProofError):
        verify_consistency(0, 4, [], tree.root(0), r)
    with pytest.raises(EmptyTreeProofError):
        verify_consistency(0, 0, [], tree.root(0), tree.root(0))
    with pytest.raises(ProofSizeError, match="want 0"):
        verify_consistency(4, 4, [r], r, r)
    with pytest.raises(RootMismatchError):
        verify_consistency(4, 4, [], r, _flip(r))
    verify_consistency(4, 4, [], r, r)


def test_helpers_match_go() -> None:
    # Values worked by hand from verify.go: index 6 of 21 shares its path with leaf 20
    # above level 4 (6 ^ 20 = 0b10010), with no left siblings on the border above.
    assert inner_proof_size(6, 21) == 5
    assert decomp_incl_proof(6, 21) == (5, 0)
    assert decomp_incl_proof(20, 21) == (0, 2)
    assert root_from_inclusion_proof(0, 1, LEAVES[0], []) == LEAVES[0]
