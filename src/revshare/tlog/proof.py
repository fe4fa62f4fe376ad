"""Inclusion and consistency proof verifiers (RFC 9162 sections 2.1.3.2 and 2.1.4.2).

A port of transparency-dev/merkle `proof/verify.go` that keeps its helper names, so a
reviewer can compare the two line by line. Each verifier checks its preconditions first
and raises one error per failure (see revshare.tlog.errors).

Size-0 policy: a consistency proof from size 0 is refused (EmptyTreeProofError), as
transparency-dev does and unlike RFC 9162's "trivially consistent": it proves nothing, and
a caller that has no previous checkpoint has nothing to check. See docs/TLOG.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from revshare.tlog.errors import (
    EmptyTreeProofError,
    HashSizeError,
    InconsistentTreeError,
    IndexOutOfRangeError,
    ProofSizeError,
    RootMismatchError,
)
from revshare.tlog.hashing import HASH_SIZE, hash_children

__all__ = [
    "chain_border_right",
    "chain_inner",
    "chain_inner_right",
    "decomp_incl_proof",
    "inner_proof_size",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]


def _verify_match(calculated: bytes, expected: bytes, what: str = "root") -> None:
    if calculated != expected:
        raise RootMismatchError(calculated, expected, what)


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` with `root`.

    RFC 9162 section 2.1.3.2. Requires 0 <= index < size.
    """
    _verify_match(root_from_inclusion_proof(index, size, leaf_hash, proof), root)


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 section 2.1.3.2).

    Requires 0 <= index < size, a 32-byte leaf hash and exactly the proof length the index
    and size call for.
    """
    if not 0 <= index < size:
        raise IndexOutOfRangeError(index, size)
    if len(leaf_hash) != HASH_SIZE:
        raise HashSizeError(len(leaf_hash), HASH_SIZE)
    inner, border = decomp_incl_proof(index, size)
    if len(proof) != inner + border:
        raise ProofSizeError(len(proof), inner + border)
    res = chain_inner(leaf_hash, proof[:inner], index)
    return chain_border_right(res, proof[inner:])


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of `size2` with `root2` extends the tree of `size1` with `root1`.

    RFC 9162 section 2.1.4.2. Requires 0 < size1 <= size2; equal sizes need an empty proof
    and equal roots.
    """
    _verify_match(root_from_consistency_proof(size1, size2, proof, root1), root2, "root2")


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """The size2 root a consistency proof leads to, after checking it against root1.

    RFC 9162 section 2.1.4.2. Requires 0 < size1 <= size2.
    """
    if size2 < size1:
        raise InconsistentTreeError(size1, size2)
    if size1 == 0:
        raise EmptyTreeProofError()
    if size1 == size2:
        if proof:
            raise ProofSizeError(len(proof), 0)
        return root1
    if not proof:
        raise ProofSizeError(0, _consistency_proof_size(size1, size2))

    inner, border = decomp_incl_proof(size1 - 1, size2)
    shift = _trailing_zeros(size1)
    inner -= shift  # shift < inner when size1 < size2

    # The proof starts with the hash of the perfect subtree of size 2**shift ending at
    # size1, unless size1 is that very 2**shift: then the seed is root1 itself.
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise ProofSizeError(len(proof), start + inner + border)
    rest = proof[start:]
    # rest is a suffix of the inclusion proof of leaf size1-1 in the tree of size2.

    mask = (size1 - 1) >> shift  # chain from level `shift`
    hash1 = chain_inner_right(seed, rest[:inner], mask)
    hash1 = chain_border_right(hash1, rest[inner:])
    _verify_match(hash1, root1, "root1")

    hash2 = chain_inner(seed, rest[:inner], mask)
    return chain_border_right(hash2, rest[inner:])


def decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof into (inner, border) lengths.

    The split is where the paths to leaf `index` and to leaf `size - 1` meet; the sum is
    the proof's length.
    """
    inner = inner_proof_size(index, size)
    border = (index >> inner).bit_count()
    return inner, border


def inner_proof_size(index: int, size: int) -> int:
    """Number of proof hashes below the meeting point of the paths to index and size-1."""
    return (index ^ (size - 1)).bit_length()


def chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Chain a subtree hash on or below the right border, lower levels first.

    `seed` is the hash at `index` on its level; bit i of index says which side proof[i] is.
    """
    for i, h in enumerate(proof):
        seed = hash_children(seed, h) if (index >> i) & 1 == 0 else hash_children(h, seed)
    return seed


def chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like chain_inner, but only with left-side hashes: the earlier version of the subtree."""
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = hash_children(h, seed)
    return seed


def chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    """Chain along the right border, where every proof hash is a left sibling."""
    for h in proof:
        seed = hash_children(h, seed)
    return seed


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _consistency_proof_size(size1: int, size2: int) -> int:
    inner, border = decomp_incl_proof(size1 - 1, size2)
    shift = _trailing_zeros(size1)
    return (0 if size1 == 1 << shift else 1) + inner - shift + border
