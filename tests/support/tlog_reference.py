"""A slow, obviously-correct RFC 6962 tree, straight from the RFC's recursive definitions.

Tests only: it checks the fast tree in revshare.tlog.tree. Works on leaf hashes, so
MTH of one leaf is that leaf's hash.
"""

from __future__ import annotations

from collections.abc import Sequence

from revshare.tlog.hashing import EMPTY_ROOT, hash_children


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (RFC 6962 section 2.1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) (RFC 6962 section 2.1)."""
    n = len(d)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return d[0]
    k = _split(n)
    return hash_children(mth(d[:k]), mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 6962 section 2.1.1)."""
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 6962 section 2.1.2)."""
    return _subproof(m, d, True)


def _subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, d[:k], b), mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), mth(d[:k])]


# The eight leaves of transparency-dev/merkle's README example (hex), whose root is
# 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328.
README_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
