"""Read a log from C2SP tlog-tiles (a folder or a URL) and check it against the signed checkpoint.

    open_tiles(location, token)                        a Fetch over a folder or an http(s) base URL
    verify_tiles(fetch, note, vkey)                    every entry bundle rebuilds the signed root, and
                                                       every hash tile agrees with the rebuilt tree
    prove_leaves(fetch, checkpoint, indexes)           leaves read from their bundles, each proven
                                                       included by a proof built from hash tiles
    verify_extension_from_tiles(fetch, old, new)       the newer checkpoint extends the older, by a
                                                       consistency proof built from hash tiles

Nothing a tile says is trusted: every root and proof built from tiles is checked against a
checkpoint verified under the key the caller holds. A URL is read with the standard library only
(the base install verifies), with the licensor's token as a bearer when one is given; a file or a
response larger than a tile can be is refused.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from revshare.tlog import Checkpoint, MemoryStore, MerkleTree, RootMismatchError, hash_leaf, verify_inclusion
from revshare.tlog.checkpoint import verify_checkpoint_consistency
from revshare.tlog.hashing import HASH_SIZE
from revshare.tlog.tiles import (
    ENTRIES,
    MAX_ENTRY,
    TILE_WIDTH,
    Fetch,
    Tile,
    TileError,
    TileStore,
    decode_entry_bundle,
    parse_tile_path,
    tiles_for_size,
)
from revshare.verify.files import FileRefusedError, read_regular
from revshare.verify.log import VerifierArg, open_checkpoint

__all__ = ["TilesVerdict", "open_tiles", "prove_leaves", "verify_extension_from_tiles", "verify_tiles"]

MAX_TILE = TILE_WIDTH * (2 + MAX_ENTRY)
"""The most bytes any tile may hold (a full entry bundle of the longest entries); a checkpoint far less."""
TIMEOUT_S = 30.0
FETCH_THREADS = 8
FETCH_WINDOW = 64
"""Tiles are fetched 8 at a time, 64 ahead at most: a URL's round trips overlap."""


def open_tiles(location: str, token: str | None = None) -> Fetch:
    """A Fetch over a tiles base: an `http://` or `https://` URL, else a folder."""
    if location.startswith(("http://", "https://")):
        return _UrlTiles(location.rstrip("/"), token).get
    folder = Path(location)
    if not folder.is_dir():
        raise TileError(f"{location} is neither a folder nor an http(s) URL of tiles")
    return _FolderTiles(folder).get


class _FolderTiles:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, path: str) -> bytes | None:
        file = self.folder / path
        if not file.exists():
            return None
        try:
            return read_regular(file, MAX_TILE, "a tile")
        except FileRefusedError as exc:
            raise TileError(str(exc)) from None


class _UrlTiles:
    def __init__(self, base: str, token: str | None) -> None:
        self.base = base
        self.headers = {"User-Agent": "revshare-verify"} | ({"Authorization": f"Bearer {token}"} if token else {})

    def get(self, path: str) -> bytes | None:
        url = f"{self.base}/{path}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=self.headers), timeout=TIMEOUT_S) as r:
                data: bytes = r.read(MAX_TILE + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise TileError(f"GET {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TileError(f"GET {url}: {exc}") from None
        if len(data) > MAX_TILE:
            raise TileError(f"GET {url}: over the {MAX_TILE} bytes a tile may take")
        return data


def _fetch_tile(fetch: Fetch, tile: Tile) -> bytes:
    """A tile, or (a partial missing) the full tile's prefix, as tlog-tiles lets a client read it."""
    data = fetch(tile.path)
    if data is None and not tile.full:
        full = fetch(Tile(tile.level, tile.index).path)
        if full is not None and tile.level != ENTRIES:
            data = full[:tile.width * HASH_SIZE]
        elif full is not None:
            data = b"".join(_prefixed(e) for e in decode_entry_bundle(full, TILE_WIDTH)[:tile.width])
    if data is None:
        raise TileError(f"tile {tile.path} is missing")
    return data


def _prefetched(fetch: Fetch, tiles: Sequence[Tile]) -> Iterator[tuple[Tile, bytes]]:
    """The tiles' bytes in order, fetched FETCH_THREADS at a time (a window ahead, so memory stays bounded)."""
    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        for start in range(0, len(tiles), FETCH_WINDOW):
            window = tiles[start:start + FETCH_WINDOW]
            yield from zip(window, pool.map(lambda t: _fetch_tile(fetch, t), window), strict=True)


def _prefixed(entry: bytes) -> bytes:
    return len(entry).to_bytes(2, "big") + entry


@dataclass(frozen=True)
class TilesVerdict:
    """A log read whole from tiles: its checkpoint, how many tiles were read, and its leaves' tree."""

    checkpoint: Checkpoint
    tiles: int
    tree: MerkleTree


def read_checkpoint(fetch: Fetch) -> str:
    """The checkpoint note at the tiles base."""
    data = fetch("checkpoint")
    if data is None:
        raise TileError("the tiles base has no checkpoint")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TileError(f"the checkpoint is not UTF-8 text: {exc}") from None


def verify_tiles(fetch: Fetch, note: str, verifier: VerifierArg, *, hash_tiles: bool = True) -> TilesVerdict:
    """Every leaf of the checkpoint's size, read from the entry bundles, rebuilds its signed root; with
    `hash_tiles`, every hash tile holds exactly the nodes of that tree."""
    checkpoint = open_checkpoint(note, verifier)
    store = MemoryStore()
    tree = MerkleTree(store)
    read = 0
    bundles = [t for t in tiles_for_size(checkpoint.size) if t.level == ENTRIES]
    for tile, data in _prefetched(fetch, bundles):
        tree.append_many(hash_leaf(e) for e in decode_entry_bundle(data, tile.width))
        read += 1
    root = tree.root(checkpoint.size)
    if root != checkpoint.root_hash:
        raise RootMismatchError(root, checkpoint.root_hash, f"root of the entry bundles at size {checkpoint.size}")
    if hash_tiles:
        for tile, data in _prefetched(fetch, list(tiles_for_size(checkpoint.size, entries=False))):
            keys = tile.node_keys()
            nodes = store.get_many(keys)
            if data != b"".join(nodes[k] for k in keys):
                raise TileError(f"hash tile {tile.path} disagrees with the tree its entry bundles build")
            read += 1
    return TilesVerdict(checkpoint, read, tree)


def prove_leaves(fetch: Fetch, checkpoint: Checkpoint, indexes: Iterable[int]) -> list[bytes]:
    """Leaves `indexes` of the verified checkpoint's tree, each proven included from the hash tiles."""
    size = checkpoint.size
    tree = MerkleTree(TileStore(lambda path: _fetch_tile(fetch, _tile_of(path)), size))
    out = []
    for index in indexes:
        if not 0 <= index < size:
            raise TileError(f"leaf {index} is not in the checkpoint's tree of size {size}")
        n = index // TILE_WIDTH
        bundle = Tile(ENTRIES, n, min(TILE_WIDTH, size - n * TILE_WIDTH))
        leaf = decode_entry_bundle(_fetch_tile(fetch, bundle), bundle.width)[index % TILE_WIDTH]
        verify_inclusion(index, size, hash_leaf(leaf), tree.inclusion_proof(index, size), checkpoint.root_hash)
        out.append(leaf)
    return out


def verify_extension_from_tiles(fetch: Fetch, old: Checkpoint, new: Checkpoint) -> None:
    """The newer verified checkpoint extends the older one: a consistency proof from the hash tiles."""
    if old.size == 0:
        return
    tree = MerkleTree(TileStore(lambda path: _fetch_tile(fetch, _tile_of(path)), new.size))
    proof: Sequence[bytes] = tree.consistency_proof(old.size, new.size) if old.size <= new.size else []
    verify_checkpoint_consistency(old, new, proof)


def _tile_of(path: str) -> Tile:
    return parse_tile_path(path)
