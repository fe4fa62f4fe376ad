"""The ledger store: open a database, migrate it, append records, read them back.

SQLite runs in WAL mode with synchronous=NORMAL by default: a committed record survives a crash
of the process; a power loss may lose the transactions committed since the last WAL sync.
`synchronous="FULL"` (catalog: server.sqlite_synchronous) closes that window with an fsync per
group commit. PostgreSQL is durable as the server is configured (synchronous_commit).

A SQLite ledger is the owner's alone: its directory is created 0700 and its files (the database,
its `-wal` and `-shm`) 0600, whatever the umask; SQLite gives the WAL and shared-memory files the
database file's mode, so the database is created (or tightened) first.
"""

from __future__ import annotations

import contextlib
import hashlib
import operator
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from revshare.instants import as_utc, sql_text
from revshare.ledger.schema import api_keys, usage_records
from revshare.money import D
from revshare.records.record import Outcome, UsageRecord

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "ApiKey", "Ledger", "LedgerError", "hash_secret", "record_from_row"]

KEY_PREFIX = "rsk_"
LABEL_MAX = 128  # api_keys.label


class LedgerError(Exception):
    """The ledger could not be read or written; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    customer: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def hash_secret(secret: str) -> str:
    """SHA-256 of an API key. Keys carry 190 bits of randomness, so no slow hash is needed."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a write waits for another connection's transaction


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    return on_connect


def _private_sqlite_file(database: str) -> None:
    """Create the ledger's directory 0700 (only when it is ours to create) and its files 0600.

    An existing directory keeps its mode: it may be the working directory or shared. An existing
    database, WAL or shared-memory file that group or others can read is tightened to 0600.
    """
    path = Path(database)
    if not path.parent.exists():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.parent.mkdir(mode=0o700)
    with contextlib.suppress(FileExistsError):  # an empty file is an empty SQLite database
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):  # absent, or not ours to change
            if stat.S_IMODE(name.stat().st_mode) & 0o077:
                name.chmod(0o600)


class Ledger:
    """A handle on the ledger database. Thread-safe: each call checks out its own connection."""

    def __init__(self, url: str, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise LedgerError(f"the ledger URL is not a database URL: {exc}") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
                try:
                    _private_sqlite_file(parsed.database)
                except OSError as exc:
                    raise LedgerError(f"cannot create the ledger at {self.safe_url}: {exc}") from exc
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise LedgerError(f"cannot open the ledger at {self.safe_url}: {exc}") from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(synchronous))
        self._fast = _AppendSql(self.engine.dialect.paramstyle, self.is_sqlite)

    def checkpoint_wal(self) -> tuple[int, int]:
        """SQLite: copy the WAL's committed pages into the database without blocking a writer
        (`PRAGMA wal_checkpoint(PASSIVE)`); return (frames in the WAL, frames copied). PostgreSQL
        has no such file: (0, 0). The gateway calls this on a timer of its own, so that its
        writer never runs a checkpoint between two commits (`GroupCommitWriter(autocheckpoint=False)`)."""
        if not self.is_sqlite:
            return (0, 0)
        with self.engine.connect() as conn:
            _busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(frames), int(copied)

    # schema ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise LedgerError(f"cannot migrate the ledger at {self.safe_url}: {reason}") from exc

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, fit for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # append ---------------------------------------------------------------------------------

    def append(self, conn: Connection, records: Sequence[UsageRecord]) -> list[int]:
        """Insert records inside a Core transaction owned by the caller; return their seqs."""
        return self.append_dbapi(conn.connection.dbapi_connection, records)

    def append_dbapi(self, dbapi_conn: Any, records: Sequence[UsageRecord]) -> list[int]:
        """Insert records on a DBAPI connection; the caller commits. Return their seqs.

        The counter row is bumped first: on PostgreSQL that takes a row lock held until commit,
        so concurrent writers (several gateway processes) get disjoint, gapless ranges.
        This is the hot path of every request, so it runs pre-rendered SQL on the DBAPI cursor:
        SQLAlchemy Core's per-statement cost (about 190 µs a batch, measured) was most of the
        gateway's latency budget. The SQL is rendered from the same table definitions.
        DBAPI errors are raised as SQLAlchemy's own classes (IntegrityError, OperationalError...).
        """
        n = len(records)
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(self._fast.bump, (n,))
            (last,) = cursor.fetchone()
            first = int(last) - n
            appended_at = self._fast.instant(datetime.now(UTC))  # one for the batch, in the driver's form
            values = self._fast.values
            cursor.executemany(self._fast.insert, [values(r, first + i, appended_at) for i, r in enumerate(records)])
        except dbapi_error as exc:
            raise DBAPIError.instance(self._fast.insert, None, exc, dbapi_error) from exc
        finally:
            cursor.close()
        return [first + i for i in range(n)]

    def append_now(self, records: Sequence[UsageRecord]) -> list[int]:
        """Append in a transaction of its own (CLI and tests; the gateway batches instead)."""
        with self.engine.begin() as conn:
            return self.append(conn, records)

    # read -----------------------------------------------------------------------------------

    def records(
        self,
        *,
        customer: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        record_id: str | None = None,
        record_ids: Sequence[str] | None = None,
    ) -> list[UsageRecord]:
        """Records in seq order, optionally one customer's only."""
        query = select(usage_records).where(usage_records.c.seq > after_seq).order_by(usage_records.c.seq)
        if customer is not None:
            query = query.where(usage_records.c.customer == customer)
        if record_id is not None:
            query = query.where(usage_records.c.id == record_id)
        if record_ids is not None:
            query = query.where(usage_records.c.id.in_(list(record_ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [record_from_row(row._mapping) for row in conn.execute(query)]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(usage_records)).scalar_one())

    # keys -----------------------------------------------------------------------------------

    def create_key(self, customer: str, label: str = "") -> tuple[ApiKey, str]:
        """Create a key; return it and its secret, which is shown once and never stored."""
        if len(label) > LABEL_MAX:
            raise LedgerError(f"a key's label has at most {LABEL_MAX} characters, got {len(label)}")
        key_id = "key_" + secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{secrets.token_urlsafe(24)}"
        created = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id, secret_hash=hash_secret(secret), customer=customer,
                    label=label, created_at=created, revoked_at=None,
                )
            )
        return ApiKey(key_id, customer, label, created, None), secret

    def find_key(self, secret: str) -> ApiKey | None:
        """The live key with this secret, or None (unknown or revoked)."""
        query = select(api_keys).where(
            api_keys.c.secret_hash == hash_secret(secret), api_keys.c.revoked_at.is_(None)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _key(row._mapping) if row else None

    def keys(self, customer: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if customer is not None:
            query = query.where(api_keys.c.customer == customer)
        with self.engine.connect() as conn:
            return [_key(row._mapping) for row in conn.execute(query)]

    def revoke_keys(self, key_ids: Iterable[str]) -> int:
        ids = list(key_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id.in_(ids), api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return int(result.rowcount)


_COLUMNS = tuple(c.name for c in usage_records.columns)
_IN_COLUMN_ORDER = operator.itemgetter(*_COLUMNS)


class _AppendSql:
    """The append statements rendered for one DBAPI driver, and rows shaped for it."""

    def __init__(self, paramstyle: str, is_sqlite: bool) -> None:
        mark = "?" if paramstyle == "qmark" else "%s"
        self.is_sqlite = is_sqlite
        self.bump = f"UPDATE ledger_state SET next_seq = next_seq + {mark} WHERE id = 1 RETURNING next_seq"
        self.insert = (
            f"INSERT INTO usage_records ({', '.join(_COLUMNS)}) VALUES ({', '.join(mark for _ in _COLUMNS)})"
        )

    def instant(self, value: datetime) -> Any:
        """An instant as this driver stores it: SQLAlchemy's SQLite DateTime keeps naive UTC
        text, so write exactly what it reads; other drivers take the datetime."""
        return sql_text(value) if self.is_sqlite else value

    def values(self, record: UsageRecord, seq: int, appended_at: Any) -> tuple[Any, ...]:
        """The record's row in `_COLUMNS` order; `appended_at` already in the driver's form."""
        row = _to_row(record, seq, appended_at)
        if self.is_sqlite:
            row["started_at"] = sql_text(record.started_at)
            row["ended_at"] = sql_text(record.ended_at)
            # The integers SQLAlchemy's Boolean stores there: the sqlite3 module binds only exact
            # ints directly, and looks for an adapter (an AttributeError caught) for each bool.
            row["stream"] = 1 if record.stream else 0
            row["estimated"] = 1 if record.estimated else 0
        return _IN_COLUMN_ORDER(row)  # type: ignore[no-any-return]


def _key(m: Any) -> ApiKey:
    revoked = m["revoked_at"]
    return ApiKey(m["key_id"], m["customer"], m["label"], as_utc(m["created_at"]), as_utc(revoked) if revoked else None)


def _to_row(r: UsageRecord, seq: int, appended_at: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": r.id,
        "idempotency_key": r.idempotency_key,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "customer": r.customer,
        "key_id": r.key_id,
        "model": r.model,
        "licensors": ",".join(r.licensors),
        "engine": r.engine,
        "endpoint": r.endpoint,
        "stream": r.stream,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cached_tokens": r.cached_tokens,
        "estimated": r.estimated,
        "outcome": r.outcome.value,
        "price_version": r.price_version,
        "amount": format(r.amount, "f"),
        "currency": r.currency,
        "error_code": r.error_code,
        "appended_at": appended_at,
        "end_user": r.end_user,
    }


def record_from_row(m: Any) -> UsageRecord:
    """A `usage_records` row (a mapping of its columns) as a `UsageRecord`."""
    return UsageRecord(
        id=m["id"],
        seq=int(m["seq"]),
        idempotency_key=m["idempotency_key"],
        started_at=as_utc(m["started_at"]),
        ended_at=as_utc(m["ended_at"]),
        customer=m["customer"],
        key_id=m["key_id"],
        model=m["model"],
        licensors=tuple(x for x in m["licensors"].split(",") if x),
        engine=m["engine"],
        endpoint=m["endpoint"],
        stream=bool(m["stream"]),
        prompt_tokens=int(m["prompt_tokens"]),
        completion_tokens=int(m["completion_tokens"]),
        cached_tokens=int(m["cached_tokens"]),
        estimated=bool(m["estimated"]),
        outcome=Outcome(m["outcome"]),
        price_version=m["price_version"],
        amount=D(m["amount"]),
        currency=m["currency"],
        error_code=m["error_code"],
        end_user=m["end_user"],
    )
