"""The witness's SQLite state: compare-and-swap writes only over the state it was given."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from revshare.witness import LogState, WitnessStore

A = LogState(5, bytes([1]) * 32, "note a\n", 100)
B = LogState(9, bytes([2]) * 32, "note b\n", 200)
B_FORK = LogState(9, bytes([3]) * 32, "note b'\n", 201)


@pytest.fixture
def store(tmp_path: Path) -> WitnessStore:
    return WitnessStore(tmp_path / "witness.db")


def test_first_write_only_over_nothing(store: WitnessStore) -> None:
    assert store.latest("log") is None
    assert store.compare_and_swap("log", None, A) == (True, A)
    assert store.compare_and_swap("log", None, B) == (False, A)  # someone was first
    assert store.latest("log") == A
    assert store.origins() == ["log"]


def test_swap_needs_the_same_size_and_root(store: WitnessStore) -> None:
    store.compare_and_swap("log", None, A)
    assert store.compare_and_swap("log", LogState(4, A.root, "", 0), B) == (False, A)  # another size
    assert store.compare_and_swap("log", LogState(5, bytes(32), "", 0), B) == (False, A)  # another root
    assert store.compare_and_swap("log", A, B) == (True, B)
    assert store.compare_and_swap("log", A, B_FORK) == (False, B)  # checked against A, too late
    assert store.latest("log") == B


def test_a_vanished_row_is_no_success(store: WitnessStore) -> None:
    store.compare_and_swap("log", None, A)
    with sqlite3.connect(store.path) as conn:
        conn.execute("DELETE FROM witness_logs")
    assert store.compare_and_swap("log", A, B) == (False, None)


def test_logs_are_apart(store: WitnessStore) -> None:
    store.compare_and_swap("one", None, A)
    assert store.compare_and_swap("two", None, B) == (True, B)
    assert (store.latest("one"), store.latest("two")) == (A, B)


def test_the_database_is_durable_and_shared(tmp_path: Path) -> None:
    WitnessStore(tmp_path / "witness.db").compare_and_swap("log", None, A)
    again = WitnessStore(tmp_path / "witness.db")
    assert again.latest("log") == A
    with sqlite3.connect(again.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_evidence_is_kept_in_order(store: WitnessStore) -> None:
    store.record_evidence("log", 1, "ForkError: x", "old 5\n\nnote\n")
    store.record_evidence("log", 2, "BadProofError: y", "old 5\nAAAA\n\nnote\n")
    store.record_evidence("other", 3, "ForkError: z", "")
    assert [(t, r.split(":")[0]) for t, r, _ in store.evidence("log")] == [(1, "ForkError"), (2, "BadProofError")]


def test_the_schema_refuses_nonsense(store: WitnessStore) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.compare_and_swap("log", None, LogState(-1, A.root, "", 0))
    with pytest.raises(sqlite3.IntegrityError):
        store.compare_and_swap("log", None, LogState(1, b"short", "", 0))
    assert store.latest("log") is None
