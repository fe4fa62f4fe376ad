"""Migration 0014: on SQLite, intents live in a table WITHOUT ROWID (one B-tree per insert and
delete); an intent a crashed gateway left behind survives the rebuild both ways, for the
recovery to resolve (tests/ledger/test_crash_recovery.py runs on the new table). PostgreSQL's
table is left as it was."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from revshare.ledger import store
from revshare.ledger.store import Ledger

_LEFT = ("rec_left_by_a_crash", "gw_gone", 7, "", '{"model": "m"}', "2026-12-01 10:00:00.000000")


def _migrate_to(ledger: Ledger, revision: str, downgrade: bool) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    with ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(cfg, revision)


def _table(ledger: Ledger) -> tuple[str, list[tuple[object, ...]]]:
    with ledger.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT record_id, instance, units, budgets, request, created_at FROM reservations"))]
        if ledger.is_sqlite:
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'reservations'")).scalar_one()
        else:
            sql = ""
    return sql, rows


def test_intents_keep_through_the_rebuild_both_ways(ledger: Ledger) -> None:
    _migrate_to(ledger, "0013", downgrade=True)
    with ledger.engine.begin() as conn:
        conn.execute(text("INSERT INTO reservations (record_id, instance, units, budgets, request, created_at) "
                          "VALUES (:a, :b, :c, :d, :e, :f)"), dict(zip("abcdef", _LEFT, strict=True)))
    before_sql, before = _table(ledger)
    ledger.migrate()
    after_sql, after = _table(ledger)
    assert [r[:5] for r in after] == [r[:5] for r in before] == [_LEFT[:5]]
    if ledger.is_sqlite:
        assert "WITHOUT ROWID" not in before_sql and "WITHOUT ROWID" in after_sql
    _migrate_to(ledger, "0013", downgrade=True)
    back_sql, back = _table(ledger)
    assert back == before and "WITHOUT ROWID" not in back_sql
    ledger.migrate()
