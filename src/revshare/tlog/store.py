"""Where the tree keeps its hashes: a tiny protocol and an in-memory implementation.

The tree stores only the hashes of *perfect* subtrees, keyed by (level, index): the node
at level L, index i covers leaves [i * 2**L, (i + 1) * 2**L). Level 0 holds the leaf
hashes. Once written a node never changes, and each level fills from index 0 up without
gaps, so a SQL table `tlog_nodes(log_id, level, idx, hash)` with primary key
(log_id, level, idx) plus one row for the size is enough.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from revshare.tlog.errors import MissingNodeError
from revshare.tlog.hashing import HASH_SIZE

__all__ = ["MemoryStore", "NodeKey", "TreeStore"]

NodeKey = tuple[int, int]
"""(level, index) of a perfect subtree."""


class TreeStore(Protocol):
    """Durable home of a tree's perfect-subtree hashes and its size.

    Contract:
    - `size()` is the number of leaves whose nodes have all been written.
    - `get_many(keys)` returns the hashes it holds for `keys` (absent keys are left out;
      the tree raises MissingNodeError). Called with O(log n) keys per proof or root.
    - `put_many(nodes, size)` writes new nodes and the new size in one atomic step (one
      transaction in SQL): either all of them land, or none. A node rewritten with the
      same hash is harmless; a different hash for an existing key is an error.
    """

    def size(self) -> int:
        """Number of leaves in the tree."""
        ...

    def get_many(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Hashes held for `keys`."""
        ...

    def put_many(self, nodes: Sequence[tuple[NodeKey, bytes]], size: int) -> None:
        """Write `nodes` and set the size to `size`, atomically."""
        ...


class MemoryStore:
    """A TreeStore in RAM: one bytearray per level, 32 bytes per node, no per-node object.

    One million leaves take about 64 MB (2 million nodes). For tests, benchmarks and
    a verifier that rebuilds a log from an export.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = []
        self._size = 0

    def size(self) -> int:
        """Number of leaves in the tree."""
        return self._size

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Hashes held for `keys`; absent keys are left out."""
        out: dict[NodeKey, bytes] = {}
        levels = self._levels
        for key in keys:
            level, index = key
            if level < len(levels):
                start = index * HASH_SIZE
                row = levels[level]
                if 0 <= start < len(row):
                    out[key] = bytes(row[start : start + HASH_SIZE])
        return out

    def put_many(self, nodes: Sequence[tuple[NodeKey, bytes]], size: int) -> None:
        """Append `nodes` (each level in index order, no gaps) and set the size."""
        # Check everything first, so a refused batch leaves the store untouched.
        stored = [len(row) // HASH_SIZE for row in self._levels]
        lengths = list(stored)
        for (level, index), digest in nodes:
            if len(digest) != HASH_SIZE:
                raise ValueError(f"node ({level}, {index}) has {len(digest)} bytes, want 32")
            while level >= len(lengths):
                lengths.append(0)
                stored.append(0)
            if index > lengths[level]:
                raise MissingNodeError(level, lengths[level])
            if index == lengths[level]:
                lengths[level] += 1
            elif index >= stored[level] or self._node(level, index) != digest:
                raise ValueError(f"node ({level}, {index}) already holds another hash")
        for (level, index), digest in nodes:
            while level >= len(self._levels):
                self._levels.append(bytearray())
            row = self._levels[level]
            if index * HASH_SIZE == len(row):
                row += digest
        self._size = size

    def _node(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])
