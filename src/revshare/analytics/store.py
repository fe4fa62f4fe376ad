"""The DuckDB file that holds the columnar copy, and the proof of what it holds.

One table `usage` (one row per ledger record, its instants as integer microseconds since the
epoch, UTC, so that the same SQL runs on DuckDB and ClickHouse) and one row `feed_cursor`: the
last seq copied, the number of rows, and a digest of them (the sum, modulo 2^64, of the low 64
bits of each row's MD5 over its columns joined by '|'). Rows and cursor move in one transaction,
so after any crash the file holds exactly seq 1..copied_seq. `check()` recomputes all of it.

A DuckDB file has one writer process at a time, and a reader cannot open it while a writer holds
it: `StoreBusy` says so, and callers fall back to the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

__all__ = ["COLUMNS", "DIGEST_MOD", "NAMES", "ROW_DIGEST_SQL", "AnalyticsError", "ColumnarStore", "FeedPosition",
           "StoreBusy", "StoreCheck", "row_digest_text"]

# (name, DuckDB type), in the order the feeder reads them from the ledger.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("seq", "BIGINT"), ("started_us", "BIGINT"), ("appended_us", "BIGINT"), ("customer", "VARCHAR"),
    ("key_id", "VARCHAR"), ("model", "VARCHAR"), ("price_version", "VARCHAR"), ("outcome", "VARCHAR"),
    ("prompt_tokens", "BIGINT"), ("completion_tokens", "BIGINT"), ("cached_tokens", "BIGINT"),
    ("amount", "VARCHAR"), ("currency", "VARCHAR"), ("end_user", "VARCHAR"),
)
NAMES = tuple(n for n, _ in COLUMNS)
DIGEST_MOD = 2**64
ROW_DIGEST_SQL = f"md5_number_lower(concat_ws('|', {', '.join(NAMES)}))"  # one row's part of the digest
SCHEMA_VERSION = 1


class AnalyticsError(Exception):
    """The analytics store cannot be used as asked; the message says why and what to do."""


class StoreBusy(AnalyticsError):
    """Another process holds the DuckDB file (a feeder writing to it)."""


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """What the cursor says the store holds: seq 1..copied_seq, `records` rows, their digest.

    first_id / last_id: the ledger ids of seq 1 and of copied_seq, checked against the ledger
    before each feed and each read, so a store is never used with another ledger than its own.
    """

    copied_seq: int
    records: int
    digest: int
    first_id: str | None
    last_id: str | None

    @property
    def digest_hex(self) -> str:
        return f"{self.digest:016x}"


@dataclass(frozen=True, slots=True)
class StoreCheck:
    """`ColumnarStore.check()`: the cursor against a recount of the rows; `problems` empty when they agree."""

    position: FeedPosition
    counted: int
    digest: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def row_digest_text(values: Sequence[Any]) -> bytes:
    """One row's digest input, as DuckDB's `concat_ws('|', ...)` writes it (ints in decimal)."""
    return "|".join(str(v) for v in values).encode("utf-8")


class ColumnarStore:
    """An open analytics store. Use `ColumnarStore.open(path)` as a context manager."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._con = con
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> ColumnarStore:
        """Open (creating it unless `read_only`) the store at `path`."""
        path = Path(path)
        if read_only and not path.exists():
            raise AnalyticsError(f"no analytics store at {path}: run `revshare analytics feed` to create it")
        try:
            if not read_only and not path.parent.exists():
                path.parent.parent.mkdir(parents=True, exist_ok=True)
                path.parent.mkdir(mode=0o700, exist_ok=True)  # like the ledger's: customers' names are in it
            con = duckdb.connect(str(path), read_only=read_only)
            if not read_only:
                path.chmod(0o600)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreBusy(f"the analytics store {path} is held by another process (a feeder writing to "
                                "it); try again in a moment") from exc
            raise AnalyticsError(f"cannot open the analytics store {path}: {exc}") from exc
        except (duckdb.Error, OSError) as exc:
            raise AnalyticsError(f"cannot open the analytics store {path}: {exc}") from exc
        store = cls(con, path)
        try:
            if not read_only:
                store._create()
            store._check_version()
        except BaseException:
            con.close()
            raise
        return store

    def _create(self) -> None:
        columns = ", ".join(f"{n} {t} NOT NULL" for n, t in COLUMNS)
        self._con.execute(f"CREATE TABLE IF NOT EXISTS usage ({columns})")
        self._con.execute("CREATE TABLE IF NOT EXISTS feed_cursor (id INTEGER PRIMARY KEY, schema_version INTEGER "
                          "NOT NULL, copied_seq BIGINT NOT NULL, records BIGINT NOT NULL, digest UBIGINT NOT NULL, "
                          "first_id VARCHAR, last_id VARCHAR)")
        self._con.execute("INSERT INTO feed_cursor SELECT 1, ?, 0, 0, 0, NULL, NULL WHERE NOT EXISTS "
                          "(SELECT 1 FROM feed_cursor)", [SCHEMA_VERSION])

    def _check_version(self) -> None:
        try:
            row = self._one("SELECT schema_version FROM feed_cursor WHERE id = 1")
        except duckdb.CatalogException as exc:
            raise AnalyticsError(f"{self.path} is not an analytics store (no feed cursor)") from exc
        if row is None or row[0] != SCHEMA_VERSION:
            raise AnalyticsError(f"{self.path} holds analytics schema {row and row[0]}, this revshare reads "
                                 f"{SCHEMA_VERSION}: delete the file and feed it again from the ledger")

    def _one(self, sql: str) -> tuple[Any, ...] | None:
        """The first row of a query (fetched whole: DuckDB refuses new work while a result is open)."""
        rows = self._con.execute(sql).fetchall()
        return rows[0] if rows else None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ColumnarStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def position(self) -> FeedPosition:
        row = self._one("SELECT copied_seq, records, digest, first_id, last_id FROM feed_cursor WHERE id = 1")
        assert row is not None  # created with the store
        return FeedPosition(int(row[0]), int(row[1]), int(row[2]), row[3], row[4])

    def append(self, columns: Mapping[str, Any], *, first_id: str, last_id: str) -> FeedPosition:
        """Add the rows that follow the cursor (seq copied_seq+1.., gapless) and move it, in one transaction.

        `columns`: one array per name of `COLUMNS`, all the same length.
        """
        before = self.position()
        seqs = columns["seq"]
        count = len(seqs)
        if count == 0:
            return before
        if int(seqs[0]) != before.copied_seq + 1 or int(seqs[-1]) != before.copied_seq + count:
            raise AnalyticsError(f"rows {int(seqs[0])}..{int(seqs[-1])} do not follow seq {before.copied_seq}")
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("feed_batch", {n: columns[n] for n in NAMES})
            try:
                con.execute(f"INSERT INTO usage SELECT {', '.join(NAMES)} FROM feed_batch")
                added = self._one(f"SELECT sum({ROW_DIGEST_SQL}) FROM feed_batch")
            finally:
                con.unregister("feed_batch")
            assert added is not None
            after = FeedPosition(before.copied_seq + count, before.records + count,
                                 (before.digest + int(added[0])) % DIGEST_MOD, before.first_id or first_id, last_id)
            self._move_cursor(after)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return after

    def _move_cursor(self, to: FeedPosition) -> None:
        self._con.execute("UPDATE feed_cursor SET copied_seq = ?, records = ?, digest = ?, first_id = ?, last_id = ? "
                          "WHERE id = 1", [to.copied_seq, to.records, to.digest, to.first_id, to.last_id])

    def check(self) -> StoreCheck:
        """Recount the rows and recompute their digest; compare with the cursor."""
        pos = self.position()
        row = self._one(f"SELECT count(*), count(DISTINCT seq), min(seq), max(seq), coalesce(sum({ROW_DIGEST_SQL}), 0) "
                        "FROM usage")
        assert row is not None
        counted, distinct, low, high, digest = int(row[0]), int(row[1]), row[2], row[3], int(row[4]) % DIGEST_MOD
        problems = []
        if counted != pos.copied_seq or pos.records != pos.copied_seq:
            problems.append(f"the cursor says seq 1..{pos.copied_seq} ({pos.records} rows), the table holds {counted}")
        if distinct != counted:
            problems.append(f"{counted - distinct} seq(s) are held twice")
        if counted and (low != 1 or high != pos.copied_seq):
            problems.append(f"the table holds seq {low}..{high}, not 1..{pos.copied_seq}")
        if digest != pos.digest:
            problems.append(f"the rows' digest is {digest:016x}, the cursor's {pos.digest_hex}")
        return StoreCheck(pos, counted, digest, tuple(problems))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a read-only query on the store (the aggregate SQL of `sums`)."""
        try:
            return self._con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise AnalyticsError(f"cannot query the analytics store {self.path}: {exc}") from exc

    def size_bytes(self) -> int:
        """The file's size on disk (with its write-ahead log), after a checkpoint when writable."""
        wal = self.path.with_name(self.path.name + ".wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def checkpoint(self) -> None:
        self._con.execute("CHECKPOINT")
