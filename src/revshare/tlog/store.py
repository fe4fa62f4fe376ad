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
        """Append `nodes` (each level in index order, no gaps) and set the size.

        All or nothing: on a refused node, every row is cut back to where it was.
        """
        levels = self._levels
        saved = [len(row) for row in levels]
        try:
            for (level, index), digest in nodes:
                if len(digest) != HASH_SIZE:
                    raise ValueError(f"node ({level}, {index}) has {len(digest)} bytes, want 32")
                while level >= len(levels):
                    levels.append(bytearray())
                    saved.append(0)
                row = levels[level]
                start = index * HASH_SIZE
                if start == len(row):
                    row += digest
                elif start > len(row):
                    raise MissingNodeError(level, len(row) // HASH_SIZE)
                elif start >= saved[level] or row[start : start + HASH_SIZE] != digest:
                    raise ValueError(f"node ({level}, {index}) already holds another hash")
        except BaseException:
            for row, length in zip(levels, saved, strict=True):
                del row[length:]
            raise
        self._size = size
