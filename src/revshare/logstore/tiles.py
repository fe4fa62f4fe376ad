"""The logs as C2SP tlog-tiles, read from SQL: one tile per query, and an export to a folder.

A hash tile at level L is rows of `tlog_nodes` at tree level 8*L (the tree stores every perfect
subtree, so nothing is hashed here); an entry bundle is rows of `tlog_leaves`. Tiles are served up
to the size of the log's newest signed checkpoint, never beyond: a client reads them against that
checkpoint. A full tile never changes; a partial tile of width W never changes either, but is
replaced by wider ones as the log grows.

    read_tile(ledger, log_id, tile) -> bytes      what GET .../tile/<L>/<N>[.p/<W>] serves
    export_tiles(ledger, log_id, out) -> Export   checkpoint and every tile of it, for a static host
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from revshare.ledger.store import Ledger
from revshare.logstore.schema import tlog_checkpoints, tlog_leaves, tlog_logs, tlog_nodes
from revshare.logstore.tree_store import (
    LogReader,
    NotInLogError,
    NotYetIntegratedError,
    UnknownLogError,
    _note_size,
)
from revshare.tlog.tiles import ENTRIES, TILE_HEIGHT, TILE_WIDTH, Tile, encode_entry_bundle, tiles_for_size

__all__ = ["Export", "export_tiles", "read_tile"]


def read_tile(ledger: Ledger, log_id: str, tile: Tile) -> bytes:
    """The bytes of one tile of a log; NotInLogError if its newest checkpoint does not cover it."""
    with ledger.engine.connect() as conn:
        signed = conn.execute(select(func.max(tlog_checkpoints.c.size))
                              .where(tlog_checkpoints.c.log_id == log_id)).scalar()
        if signed is None:
            if conn.execute(select(tlog_logs.c.size).where(tlog_logs.c.log_id == log_id)).first() is None:
                raise UnknownLogError(f"no log {log_id!r}")
            raise NotYetIntegratedError(f"log {log_id!r} has no signed checkpoint yet")
        size = int(signed)
        level_size = size if tile.level == ENTRIES else size >> (TILE_HEIGHT * tile.level)
        if tile.index * TILE_WIDTH + tile.width > level_size:
            raise NotInLogError(f"{tile.path} is beyond the newest checkpoint of log {log_id!r} (size {size})")
        return _tile_bytes(conn, log_id, tile)


def _tile_bytes(conn: Connection, log_id: str, tile: Tile) -> bytes:
    if tile.level == ENTRIES:
        start, end = tile.entry_range()
        c = tlog_leaves.c
        rows = conn.execute(select(c.data).where(c.log_id == log_id, c.idx >= start, c.idx < end).order_by(c.idx))
        entries = [str(data).encode() for (data,) in rows]
        got = len(entries)
        data = encode_entry_bundle(entries)
    else:
        level, first = tile.level * TILE_HEIGHT, tile.index * TILE_WIDTH
        n = tlog_nodes.c
        hashes = [bytes(h) for (h,) in conn.execute(
            select(n.hash).where(n.log_id == log_id, n.level == level, n.idx >= first, n.idx < first + tile.width)
            .order_by(n.idx))]
        got = len(hashes)
        data = b"".join(hashes)
    if got != tile.width:
        raise NotInLogError(f"{tile.path} of log {log_id!r}: {got} of its {tile.width} rows are stored")
    return data


@dataclass(frozen=True)
class Export:
    """What export_tiles did: the checkpoint's size, tiles written, and full tiles already there (kept)."""

    size: int
    written: int
    kept: int


def export_tiles(ledger: Ledger, log_id: str, out: Path) -> Export:
    """Write a log's newest checkpoint and its tiles under `out`, as a static tlog-tiles host serves them.

    Full tiles already in `out` are kept (they never change), so a re-export writes only what is new;
    partial tiles a full one has replaced are removed. The checkpoint is written last, so a reader
    never meets a checkpoint whose tiles are not there yet. Each file is written whole, then renamed.
    """
    note = LogReader(ledger).latest_checkpoint(log_id)
    size = _note_size(note, None)
    written = kept = 0
    with ledger.engine.connect() as conn:
        for tile in tiles_for_size(size):
            path = out / tile.path
            if tile.full and path.is_file():
                kept += 1
                continue
            _write(path, _tile_bytes(conn, log_id, tile))
            written += 1
            if tile.full:
                _remove_partials(path)
    _write(out / "checkpoint", note.encode())
    return Export(size, written, kept)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(data)
    os.replace(part, path)


def _remove_partials(full: Path) -> None:
    """Drop `<N>.p/` once the full tile `<N>` exists (tlog-tiles allows it; clients fall back to the full)."""
    partials = full.with_name(full.name + ".p")
    if partials.is_dir():
        for f in _files(partials):
            f.unlink()
        partials.rmdir()


def _files(folder: Path) -> Iterator[Path]:
    return (f for f in folder.iterdir() if f.is_file())
