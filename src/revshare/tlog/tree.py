"""An append-only RFC 6962 Merkle tree over a TreeStore.

The tree writes each leaf hash (level 0) and every perfect subtree the moment it is
completed, so it never rehashes the log: appending costs one leaf write plus, amortized,
one node hash and write; a root, an inclusion proof or a consistency proof costs one
`get_many` of O(log n) stored hashes. A node of the RFC 6962 tree that is not perfect (it
touches the right edge of a tree whose size is not a power of two) is composed from the
O(log n) perfect subtrees that tile it.

The tree keeps the "frontier" (the perfect subtrees that tile [0, size): the border of
`revshare.tlog.compact`, which appends to it and folds it to the root) in memory, read on
first need (a proof does not need it), so the root of the current size costs at most one read.
It assumes one writer per store; before appending it re-reads the store's size and reloads the
frontier if another writer moved it.

An append can be hashed apart from its write (`prepare_append`, then `apply`): the log's
integrator hashes a batch's nodes before it takes the database's write lock, and holds the lock
only to write them (docs/BENCHMARKS.md). `apply` refuses an append prepared at another size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from revshare.tlog.compact import append_leaves, fold, perfect_tiles
from revshare.tlog.errors import (
    EmptyTreeProofError,
    InconsistentTreeError,
    IndexOutOfRangeError,
    MissingNodeError,
    StaleAppendError,
    TreeSizeError,
)
from revshare.tlog.hashing import EMPTY_ROOT
from revshare.tlog.store import NodeKey, TreeStore

__all__ = ["MerkleTree", "PreparedAppend", "perfect_tiles"]

Range = tuple[int, int]


def _path_ranges(index: int, level: int, size: int) -> list[Range]:
    """Leaf ranges of the nodes proving the node (level, index) in a tree of `size` leaves.

    The same split as verify.go's decompInclProof: `inner` siblings below the point where
    the paths to this node and to the last leaf meet (the last of them may be a partial
    subtree), then the left siblings along the right border.
    """
    last = (size - 1) >> level
    inner = (index ^ last).bit_length()
    ranges: list[Range] = []
    for i in range(inner):
        width = 1 << (level + i)
        start = ((index >> i) ^ 1) * width
        ranges.append((start, min(start + width, size)))
    for i in range(inner, index.bit_length()):
        if index >> i & 1:
            width = 1 << (level + i)
            start = ((index >> i) ^ 1) * width
            ranges.append((start, start + width))
    return ranges


@dataclass(frozen=True, slots=True)
class PreparedAppend:
    """Leaves hashed into the nodes they complete, for a tree of `first` leaves: not yet written."""

    first: int
    size: int
    nodes: tuple[tuple[NodeKey, bytes], ...]
    frontier: tuple[bytes, ...]


class MerkleTree:
    """Append-only Merkle tree (RFC 6962 / RFC 9162) whose hashes live in a TreeStore."""

    def __init__(self, store: TreeStore) -> None:
        self._store = store
        self._size = 0
        self._frontier: list[bytes] | None = None
        self.refresh()

    @property
    def size(self) -> int:
        """Number of leaves, as of the last append or refresh."""
        return self._size

    def refresh(self) -> None:
        """Re-read the store's size (after another writer appended); the frontier is re-read when needed."""
        self._size = self._store.size()
        self._frontier = None

    def _current_frontier(self) -> list[bytes]:
        if self._frontier is None:
            self._frontier = self._read(perfect_tiles(0, self._size))
        return self._frontier

    # -- writing ---------------------------------------------------------------------------

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index."""
        return self.append_many((leaf_hash,))

    def append_many(self, leaf_hashes: Iterable[bytes]) -> int:
        """Append leaf hashes in order with one `put_many`; return the first one's index.

        Each leaf and each subtree it completes is written; nothing is re-read.
        """
        return self.apply(self.prepare_append(leaf_hashes))

    def prepare_append(self, leaf_hashes: Iterable[bytes]) -> PreparedAppend:
        """Hash leaf hashes into the nodes they complete, as `append_many` would, writing nothing."""
        if self._store.size() != self._size:
            self.refresh()
        first = self._size
        frontier = list(self._current_frontier())  # a copy: the tree's own changes only in `apply`
        nodes: list[tuple[NodeKey, bytes]] = []
        size = append_leaves(frontier, first, leaf_hashes, nodes.append)
        return PreparedAppend(first, size, tuple(nodes), tuple(frontier))

    def apply(self, prepared: PreparedAppend) -> int:
        """Write a prepared append with one `put_many`; return its first leaf's index. Raises
        StaleAppendError (writing nothing) unless the store still holds `prepared.first` leaves."""
        size = self._store.size()
        if size != prepared.first:
            raise StaleAppendError(prepared.first, size)
        if prepared.size != prepared.first:
            self._store.put_many(prepared.nodes, prepared.size)
        self._size, self._frontier = prepared.size, list(prepared.frontier)
        return prepared.first

    # -- reading ---------------------------------------------------------------------------

    def leaf_hash(self, index: int) -> bytes:
        """The stored hash of leaf `index`."""
        self._check_index(index, self._size)
        return self._read([(0, index)])[0]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all); EMPTY_ROOT for size 0."""
        size = self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        if size == self._size:
            return fold(self._current_frontier())
        return fold(self._read(perfect_tiles(0, size)))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]), RFC 9162 section 2.1.3.1, leaf-to-root order."""
        size = self._check_size(size)
        self._check_index(index, size)
        return self._hashes(_path_ranges(index, 0, size))

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(size1, D[size2]), RFC 9162 section 2.1.4.1.

        Requires 0 < size1 <= size2; equal sizes give an empty proof. Size 0 is refused
        (EmptyTreeProofError), the same policy as the verifier.
        """
        size2 = self._check_size(size2)
        if size1 > size2:
            raise InconsistentTreeError(size1, size2)
        if size1 == 0:
            raise EmptyTreeProofError()
        if size1 == size2:
            return []
        # The largest perfect subtree ending at size1 seeds the proof, unless it is the
        # whole old tree (size1 a power of two): the verifier already holds that as root1.
        level = (size1 & -size1).bit_length() - 1
        index = (size1 - 1) >> level
        seed = [] if index == 0 else [(index << level, size1)]
        return self._hashes(seed + _path_ranges(index, level, size2))

    # -- helpers ---------------------------------------------------------------------------

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if size < 0:
            raise TreeSizeError(size, self._size)
        if size > self._size:
            self.refresh()
            if size > self._size:
                raise TreeSizeError(size, self._size)
        return size

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise IndexOutOfRangeError(index, size)

    def _read(self, keys: Sequence[NodeKey]) -> list[bytes]:
        if not keys:
            return []
        got = self._store.get_many(keys)
        try:
            return [got[k] for k in keys]
        except KeyError as e:
            level, index = e.args[0]
            raise MissingNodeError(level, index) from None

    def _hashes(self, ranges: Sequence[Range]) -> list[bytes]:
        """Hashes of RFC 6962 nodes given by their leaf ranges, with one store read."""
        tiles = [perfect_tiles(start, end) for start, end in ranges]
        flat = [k for t in tiles for k in t]
        got = dict(zip(flat, self._read(flat), strict=True))
        return [fold([got[k] for k in t]) for t in tiles]
