"""The compact range of an RFC 6962 tree: the perfect subtrees that tile its leaves, as hashes.

The one definition of how leaves are appended to a tree and folded to its root, used by the
writer (`revshare.tlog.tree.MerkleTree`, which stores every node it completes) and by the
verifier (`revshare.verify`, which rebuilds a checkpoint's root from a bundle's border and
leaves). Pure functions over hashes, after transparency-dev/merkle's `compact` package:

    perfect_tiles(start, end)                   (level, index) of the perfect subtrees tiling [start, end)
    fold(hashes)                                MTH of a range from its tiles' hashes (RFC 6962 §2.1)
    append_leaves(border, size, leaf_hashes)    extend the border of the tree [0, size), in place

The border of a tree of `size` leaves is the list of its tiles' hashes, `perfect_tiles(0, size)`
left to right: one per 1 bit of `size`, largest subtree first (transparency-dev calls it the
compact range [0, size)). It is all a writer needs to append, and `fold(border)` is the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from revshare.tlog.errors import HashSizeError
from revshare.tlog.hashing import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, hash_children
from revshare.tlog.store import NodeKey

__all__ = ["Visit", "append_leaves", "fold", "perfect_tiles"]

Visit = Callable[[tuple[NodeKey, bytes]], object]
"""Receives ((level, index), hash) of each leaf and node `append_leaves` completes, as one tuple."""


def perfect_tiles(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees, left to right, whose leaves tile [start, end).

    Requires start = 0 or start a multiple of a power of two larger than end - start: this
    holds for every node of an RFC 6962 tree, whose left part is always the largest power
    of two smaller than its size (RFC 6962 section 2.1).
    """
    keys: list[NodeKey] = []
    n = end - start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            keys.append((level, start >> level))
            start += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its perfect tiles, left to right; EMPTY_ROOT for none.

    RFC 6962 section 2.1 (RFC 9162 section 2.1.1) splits a range of n leaves after the largest
    power of two k < n: its first tile is the left child, the rest the right one. So the hashes
    fold from the right: MTH = HASH(0x01 || t[0] || HASH(0x01 || t[1] || ... t[-1])).
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hash_children(h, acc)
    return acc


def append_leaves(border: list[bytes], size: int, leaf_hashes: Iterable[bytes], visit: Visit | None = None) -> int:
    """Append leaf hashes to the tree [0, size) whose border is `border`; return the new size.

    Requires the border of [0, size) (`size.bit_count()` hashes: ValueError otherwise) and leaf
    hashes of HASH_SIZE bytes (HashSizeError). `border` becomes the new tree's border, in place;
    on an error it is left part-way, so pass a copy to keep the old one.

    A leaf appended as leaf `size - 1` completes one perfect subtree per trailing 0 bit of the
    new size: each is HASH(0x01 || left || right) (RFC 6962 section 2.1) of the border's last
    hash and the hash so far, and replaces both. `visit`, if given, receives ((level, index),
    hash) of the leaf and of each subtree it completes, in that order, as one tuple (a list's
    `append` will do).
    """
    if len(border) != size.bit_count():
        raise ValueError(f"a border of {len(border)} hashes; a tree of size {size} has {size.bit_count()}")
    pop, push = border.pop, border.append
    sha256 = hashlib.sha256
    node_prefix, hash_size = NODE_PREFIX, HASH_SIZE
    for h in leaf_hashes:
        if len(h) != hash_size:
            raise HashSizeError(len(h), hash_size)
        if visit is not None:
            visit(((0, size), h))
        size += 1
        level = 0
        n = size
        while not n & 1:  # the new leaf completes one perfect subtree per trailing 0
            h = sha256(node_prefix + pop() + h).digest()
            level += 1
            n >>= 1
            if visit is not None:
                visit(((level, n - 1), h))
        push(h)
    return size
