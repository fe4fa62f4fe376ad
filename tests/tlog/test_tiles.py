"""C2SP tlog-tiles math: paths, the tiles of a size, entry bundles, and proofs built from hash tiles.

The proofs a `MerkleTree(TileStore(...))` builds must be exactly those of the tree itself, at every
size around tile edges, and tlog-scales (an independent tiles reader) must read the same tiles.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tlog_scales import backend, reader
from tlog_scales import tiles as scales_tiles

from revshare.tlog import MemoryStore, MerkleTree, hash_leaf
from revshare.tlog.tiles import (
    ENTRIES,
    Tile,
    TileError,
    TileStore,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)


def leaves(n: int) -> list[bytes]:
    return [f'{{"n":{i}}}'.encode() for i in range(n)]


class Served:
    """The tiles of a tree built from `leaves(n)`, as a fetch over their paths (and a count of reads)."""

    def __init__(self, n: int) -> None:
        self.data = leaves(n)
        self.store = MemoryStore()
        self.tree = MerkleTree(self.store)
        self.tree.append_many(hash_leaf(x) for x in self.data)
        self.reads: list[str] = []

    def fetch(self, path: str) -> bytes | None:
        self.reads.append(path)
        tile = parse_tile_path(path)
        if tile not in set(tiles_for_size(self.tree.size)):
            return None
        if tile.level == ENTRIES:
            start, end = tile.entry_range()
            return encode_entry_bundle(self.data[start:end])
        keys = tile.node_keys()
        got = self.store.get_many(keys)
        return b"".join(got[k] for k in keys)

    def write(self, folder: Path) -> None:
        for tile in tiles_for_size(self.tree.size):
            path = folder / tile.path
            path.parent.mkdir(parents=True, exist_ok=True)
            data = self.fetch(tile.path)
            assert data is not None
            path.write_bytes(data)


@pytest.mark.parametrize(("level", "index", "width", "path"), [
    (0, 0, 256, "tile/0/000"),
    (0, 1234067, 256, "tile/0/x001/x234/067"),
    (1, 1234067, 5, "tile/1/x001/x234/067.p/5"),
    (ENTRIES, 1000, 256, "tile/entries/x001/000"),
    (ENTRIES, 7, 255, "tile/entries/007.p/255"),
    (3, 999, 1, "tile/3/999.p/1"),
])
def test_paths_are_the_specs_and_parse_back(level: int, index: int, width: int, path: str) -> None:
    assert tile_path(level, index, width) == path
    assert parse_tile_path(path) == Tile(level, index, width)
    assert "/".join(scales_tiles.tile_path(level, index, width % 256)) == path  # tlog-scales agrees


@pytest.mark.parametrize("path", [
    "tile/0/5", "tile/0/x000/005", "tile/0/001.p/256", "tile/0/001.p/0", "tile/0/001.p/05", "tile/x/001",
    "tile/0", "tiles/0/000", "tile/64/000", "tile/0/000/", "tile/-1/000", "tile/0/00a", "tile/0/x1/000",
    "tile/entries/001.p", "tile/0/\u0661\u0662\u0663",
])
def test_a_path_that_is_not_canonical_is_refused(path: str) -> None:
    with pytest.raises(TileError):
        parse_tile_path(path)


def test_the_tiles_of_a_size() -> None:
    assert list(tiles_for_size(0)) == []
    assert list(tiles_for_size(5)) == [Tile(0, 0, 5), Tile(ENTRIES, 0, 5)]
    tiles = list(tiles_for_size(256 * 256 + 3))
    assert tiles.count(Tile(0, 0)) == 1 and Tile(0, 256, 3) in tiles
    assert [t for t in tiles if t.level == 1] == [Tile(1, 0)]
    assert [t for t in tiles if t.level == 2] == [Tile(2, 0, 1)]
    assert sum(t.level == ENTRIES for t in tiles) == 257


def test_entry_bundles_round_trip_and_refuse_bad_bytes() -> None:
    entries = [b"", b"a", b"x" * 65535]
    data = encode_entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a" and decode_entry_bundle(data, 3) == entries
    assert reader.Tile.from_entries_bytes(data).entries == entries  # tlog-scales reads it the same
    with pytest.raises(TileError, match="at most 65535"):
        encode_entry_bundle([b"x" * 65536])
    for bad, width in ((data[:-1], 3), (data, 2), (data + b"\x00", 3), (data, 4)):
        with pytest.raises(TileError):
            decode_entry_bundle(bad, width)
    with pytest.raises(TileError, match="want 2 hashes"):
        decode_hash_tile(bytes(63), 2)


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 513, 1000, 65535, 65536, 65537, 70001])
def test_proofs_from_tiles_are_the_trees_own(size: int) -> None:
    served = Served(size)
    tiled = MerkleTree(TileStore(served.fetch, size))
    assert tiled.root() == served.tree.root()
    step = max(1, size // 7)
    for index in [*range(0, size, step), size - 1]:
        assert tiled.inclusion_proof(index, size) == served.tree.inclusion_proof(index, size)
    for old in [*range(1, size, step), size]:
        assert tiled.consistency_proof(old, size) == served.tree.consistency_proof(old, size)
        assert tiled.root(old) == served.tree.root(old)


def test_a_proof_reads_few_tiles_and_a_missing_one_is_named() -> None:
    served = Served(70001)
    store = TileStore(served.fetch, 70001)
    MerkleTree(store).inclusion_proof(12345, 70001)
    assert store.fetched <= 4
    gone = TileStore(lambda path: None, 70001)
    with pytest.raises(TileError, match="tile/0/048 is missing"):
        MerkleTree(gone).inclusion_proof(12345, 70001)


@pytest.mark.parametrize("size", [1, 300, 65536 + 700])
def test_tlog_scales_reads_our_tiles(tmp_path: Path, size: int) -> None:
    served = Served(size)
    served.write(tmp_path)
    scales = reader.TilesReader(backend.LocalBackend(tmp_path))
    scales.set_size(size)
    assert scales.calculate_root_hash() == served.tree.root()
    for index in (0, size // 2, size - 1):
        assert scales.get_entry(index) == served.data[index]
        proof = scales.get_inclusion_proof(index, size)
        proof.check(hashlib.sha256(b"\x00" + served.data[index]).digest(), served.tree.root())
        assert proof.node_hashes == served.tree.inclusion_proof(index, size)
    if size > 1:
        assert scales.get_consistency_proof(1, size).node_hashes == served.tree.consistency_proof(1, size)
