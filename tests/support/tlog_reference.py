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
