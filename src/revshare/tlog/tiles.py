"""C2SP tlog-tiles: the same RFC 6962 tree as static files, and a TreeStore that reads them back.

A log of `size` leaves is served as:

    checkpoint                      the signed checkpoint note (with cosignatures)
    tile/<L>/<N>[.p/<W>]            hash tile: the hashes of tree level 8*L, nodes 256*N .. 256*N+W-1
    tile/entries/<N>[.p/<W>]        entry bundle: leaves 256*N .. 256*N+W-1, each a 2-byte big-endian
                                    length then the leaf bytes

A tile is 256 wide ("full") or, at the right edge of a level, partial with W in 1..255, written
`.p/<W>`. <N> is written in groups of three digits, every group but the last prefixed `x`
(1234067 -> `x001/x234/067`). Level-0 hashes are the RFC 6962 leaf hashes of our leaves, so a tile
at level L holds nodes that the tree store already keeps ((8*L, index), `revshare.tlog.store`).

    tile_path(level, index, width), parse_tile_path(path) -> Tile    path encoding, strict
    tiles_for_size(size)                                              every tile a tree of `size` serves
    encode_entry_bundle / decode_entry_bundle                         the bundle encoding
    TileStore(fetch, size)                                            a read-only TreeStore over fetched tiles:
                                                                      `MerkleTree(TileStore(...))` gives roots and
                                                                      proofs that a verifier checks against the
                                                                      signed checkpoint
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from revshare.tlog.errors import TlogError
from revshare.tlog.hashing import HASH_SIZE, hash_children
from revshare.tlog.store import NodeKey

__all__ = [
    "ENTRIES",
    "MAX_ENTRY",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Fetch",
    "Tile",
    "TileError",
    "TileStore",
    "decode_entry_bundle",
    "decode_hash_tile",
    "encode_entry_bundle",
    "parse_tile_path",
    "tile_for_node",
    "tile_path",
    "tiles_for_size",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
ENTRIES = -1
"""The `level` of an entry bundle in a `Tile`."""
MAX_ENTRY = 0xFFFF
"""The most bytes of one entry: its length is a 2-byte big-endian number."""
MAX_LEVEL = 63

Fetch = Callable[[str], bytes | None]
"""Reads a path under a tiles base (a folder or a URL): its bytes, or None where there is none."""


class TileError(TlogError, ValueError):
    """A tile path, tile or entry bundle that is malformed or disagrees with what it must hold."""


@dataclass(frozen=True, slots=True)
class Tile:
    """A tile's coordinates: level (ENTRIES for an entry bundle), index and width (TILE_WIDTH = full)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    def node_keys(self) -> list[NodeKey]:
        """The tree nodes (level, index) a hash tile holds, left to right."""
        level, first = self.level * TILE_HEIGHT, self.index * TILE_WIDTH
        return [(level, first + i) for i in range(self.width)]

    def entry_range(self) -> tuple[int, int]:
        """[start, end) of the leaves an entry bundle holds."""
        return self.index * TILE_WIDTH, self.index * TILE_WIDTH + self.width


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]`, or `tile/entries/<N>[.p/<W>]` for level ENTRIES."""
    if not (level == ENTRIES or 0 <= level <= MAX_LEVEL) or index < 0 or not 1 <= width <= TILE_WIDTH:
        raise TileError(f"no tile at level {level}, index {index}, width {width}")
    groups = [f"{index % 1000:03d}"]
    while index >= 1000:
        index //= 1000
        groups.insert(0, f"x{index % 1000:03d}")
    name = "/".join(groups) + ("" if width == TILE_WIDTH else f".p/{width}")
    return f"tile/{'entries' if level == ENTRIES else level}/{name}"


def parse_tile_path(path: str) -> Tile:
    """The tile a path names; TileError unless it is exactly the canonical path of a tile."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError(f"{path!r} is not a tile path (tile/<L>/<N>[.p/<W>])")
    level_text, rest = parts[1], parts[2:]
    width = TILE_WIDTH
    if rest[-1].isdigit() and len(rest) >= 2 and rest[-2].endswith(".p"):
        width = int(rest[-1]) if rest[-1].isascii() else -1
        rest = [*rest[:-2], rest[-2][:-2]]
    digits = "".join(group[1:] for group in rest[:-1]) + rest[-1]
    if level_text == "entries":
        level = ENTRIES
    elif level_text.isascii() and level_text.isdigit():
        level = int(level_text)
    else:
        raise TileError(f"{path!r}: level {level_text!r} is not a number or 'entries'")
    if not (digits.isascii() and digits.isdigit()):
        raise TileError(f"{path!r}: the tile index is not groups of three digits")
    try:
        tile = Tile(level, int(digits), width)
        canonical = tile.path
    except TileError:
        raise TileError(f"{path!r} names no tile (level 0-{MAX_LEVEL} or entries, width 1-255)") from None
    if canonical != path:
        raise TileError(f"{path!r} is not canonical: want {canonical!r}")
    return tile


def tiles_for_size(size: int, *, entries: bool = True) -> Iterator[Tile]:
    """Every tile a tree of `size` leaves serves: each level's full tiles and its partial one, lowest
    level first, then (with `entries`) the entry bundles."""
    level = 0
    while size >> (TILE_HEIGHT * level):
        yield from _level_tiles(level, size >> (TILE_HEIGHT * level))
        level += 1
    if entries:
        yield from _level_tiles(ENTRIES, size)


def _level_tiles(level: int, count: int) -> Iterator[Tile]:
    full, partial = divmod(count, TILE_WIDTH)
    for index in range(full):
        yield Tile(level, index)
    if partial:
        yield Tile(level, full, partial)


def tile_for_node(level: int, index: int, size: int) -> Tile:
    """The tile holding the node (`level`, `index`) of a tree of `size` (level a multiple of 8),
    partial if the node lies in a level's last, unfinished tile."""
    tile_level = level // TILE_HEIGHT
    count = size >> (TILE_HEIGHT * tile_level)
    n = index // TILE_WIDTH
    width = TILE_WIDTH if (n + 1) * TILE_WIDTH <= count else count - n * TILE_WIDTH
    if width <= 0 or index >= count:
        raise TileError(f"node ({level}, {index}) is not in a tree of size {size}")
    return Tile(tile_level, n, width)


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """Each entry as a 2-byte big-endian length and its bytes (C2SP tlog-tiles)."""
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY:
            raise TileError(f"entry {i} has {len(entry)} bytes; an entry bundle holds at most {MAX_ENTRY}")
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """The `width` entries of a bundle; TileError if it holds fewer, more, or a truncated one."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError(f"entry bundle is truncated in the length of entry {len(entries)}")
        length = int.from_bytes(data[at:at + 2], "big")
        if at + 2 + length > len(data):
            raise TileError(f"entry bundle is truncated in entry {len(entries)}")
        entries.append(data[at + 2:at + 2 + length])
        at += 2 + length
    if len(entries) != width:
        raise TileError(f"entry bundle holds {len(entries)} entries, want {width}")
    return entries


def decode_hash_tile(data: bytes, width: int) -> list[bytes]:
    """The `width` hashes of a hash tile; TileError on any other length."""
    if len(data) != width * HASH_SIZE:
        raise TileError(f"hash tile has {len(data)} bytes, want {width} hashes of {HASH_SIZE}")
    return [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


class TileStore:
    """A read-only `TreeStore` of a tree of `size` leaves over its hash tiles, fetched on demand.

    A node whose level is a multiple of 8 is read from its tile; one in between is hashed up from
    the tile below (at most 128 hashes). Tiles are fetched once and kept (a proof needs O(log n)).
    The store trusts nothing: whatever it computes is checked by the caller against a signed root.
    A tile that cannot be fetched is a TileError naming its path.
    """

    def __init__(self, fetch: Fetch, size: int) -> None:
        self._fetch = fetch
        self._size = size
        self._tiles: dict[Tile, list[bytes]] = {}
        self.fetched = 0

    def size(self) -> int:
        return self._size

    def hash_tile(self, tile: Tile) -> list[bytes]:
        """The hashes of a hash tile, fetched once."""
        got = self._tiles.get(tile)
        if got is None:
            data = self._fetch(tile.path)
            if data is None:
                raise TileError(f"tile {tile.path} is missing")
            got = self._tiles[tile] = decode_hash_tile(data, tile.width)
            self.fetched += 1
        return got

    def get_many(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self._node(*key) for key in keys}

    def _node(self, level: int, index: int) -> bytes:
        up = level % TILE_HEIGHT
        base_level, first = level - up, index << up
        tile = tile_for_node(base_level, first + (1 << up) - 1, self._size)
        hashes = self.hash_tile(tile)
        start = first - tile.index * TILE_WIDTH
        row = hashes[start:start + (1 << up)]
        while len(row) > 1:
            row = [hash_children(row[i], row[i + 1]) for i in range(0, len(row), 2)]
        return row[0]

    def put_many(self, nodes: Sequence[tuple[NodeKey, bytes]], size: int) -> None:
        raise TileError("a TileStore is read-only")
