"""The SQL TreeStore: same roots and proofs as the in-memory tree, atomic batches, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import IntegrityError

from revshare.ledger.store import Ledger
from revshare.logstore.schema import tlog_logs
from revshare.logstore.tree_store import SqlTreeStore
from revshare.tlog import MemoryStore, MerkleTree


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    ledger = Ledger(ledger_url)
    ledger.migrate()
    with ledger.engine.begin() as conn:
        conn.execute(tlog_logs.insert().values(log_id="L", origin="test/L", size=0))
    yield ledger
    ledger.close()


def leaves(n: int, start: int = 0) -> list[bytes]:
    return [hashlib.sha256(b"leaf %d" % i).digest() for i in range(start, start + n)]


def test_proofs_from_sql_equal_the_memory_tree(ledger: Ledger) -> None:
    memory = MerkleTree(MemoryStore())
    rng = random.Random(7)
    total = 0
    for batch in (1, 2, 5, 17, 64, 1, 150):  # sizes crossing many powers of two
        new = leaves(batch, total)
        total += batch
        memory.append_many(new)
        with ledger.engine.begin() as conn:
            assert MerkleTree(SqlTreeStore(conn, "L")).append_many(new) == total - batch
    with ledger.engine.connect() as conn:
        sql = MerkleTree(SqlTreeStore(conn, "L"))
        assert sql.size == memory.size == total
        for size in [1, 2, 3, 7, 8, 9, 100, 128, 129, total, *rng.sample(range(1, total + 1), 20)]:
            assert sql.root(size) == memory.root(size)
            index = rng.randrange(size)
            assert sql.inclusion_proof(index, size) == memory.inclusion_proof(index, size)
            old = rng.randint(1, size)
            assert sql.consistency_proof(old, size) == memory.consistency_proof(old, size)


def test_a_failed_batch_leaves_nothing_behind(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        MerkleTree(SqlTreeStore(conn, "L")).append_many(leaves(3))
    with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
        store = SqlTreeStore(conn, "L")
        store.put_many([((0, 3), b"\x01" * 32)], 4)
        store.put_many([((0, 0), b"\x02" * 32)], 4)  # node 0 exists: the whole transaction goes
    with ledger.engine.connect() as conn:
        store = SqlTreeStore(conn, "L")
        assert store.size() == 3
        assert (0, 3) not in store.get_many([(0, 3)])
        assert MerkleTree(store).root() == MerkleTree(_memory(leaves(3))).root()


def _memory(hashes: list[bytes]) -> MemoryStore:
    store = MemoryStore()
    MerkleTree(store).append_many(hashes)
    return store
