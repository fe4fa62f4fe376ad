"""Benchmark revshare.tlog: leaves per second on the append path, and proof latency.

    PYTHONPATH=src python bench/tlog.py [--leaves 1000000] [--proofs 1000] [--sql-leaves N | --no-sql]
                                        [--statement-leaves 1000000 | --no-statement]
                                        [--tiles-leaves 100000 --tile-requests 2000 | --no-tiles | --only-tiles]

Each figure comes with a baseline measured in the same run (plain hashlib SHA-256 of the
same leaf bytes; the rfc8785 reference canonicalizer), so results from different machines
compare as ratios. Record generation is not timed; records are made in chunks to bound
memory.

The SQL part (server extras) measures the same work on the ledger's own storage, SQLite in
a temporary directory: the SqlTreeStore append alone (leaf hashes given), then the whole
`integrate()` from usage records in the ledger to signed checkpoints (reading records,
projection, JCS, hashing, nodes, leaves, cursor, signature), and proofs served from SQL, each
as a ratio to its in-memory counterpart measured above.

The statement part times `revshare verify statement` (`verify_bundle`) on a synthetic bundle:
one licensor, one flat-share contract, N leaves shaped as the ledger's projections, all in the
statement's range; writing the bundle is not timed. It is verified twice: as `revshare verify
statement` runs (the leaf scan split over two processes where it can fork) and in one process.

The tiles part (bench/tlog_tiles.py) serves a log from the gateway as C2SP tlog-tiles: tiles per
second against the JSON leaves route, and a whole log read and verified from tiles against the same
from the JSON leaves route.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import rfc8785

from revshare.tlog import (
    MemoryStore,
    MerkleTree,
    hash_leaf,
    leaf_data,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

CHUNK = 50_000


def record(seq: int) -> dict[str, Any]:
    """A usage-record projection shaped like DESIGN.md's minimum record."""
    return {
        "seq": seq,
        "record_id": f"01J9ZK3F5V8Q2M7T4X{seq:08d}",
        "idempotency_key": f"idem-{seq * 7919 % 1_000_003:07d}",
        "started_at": "2025-01-01T00:00:00.123456Z",
        "ended_at": "2025-01-01T00:00:01.654321Z",
        "customer": f"cust-{seq % 97}",
        "key": f"key_{seq % 1013:04d}",
        "model": "gemma-3-270m",
        "licensors": ["google", "acme-ft"],
        "engine": "llama.cpp",
        "prompt_tokens": 100 + seq % 4000,
        "completion_tokens": seq % 512,
        "cached_tokens": 0,
        "outcome": "ok",
        "price_book": "2025-01",
        "amount": f"0.{seq % 10**12:012d}",
        "currency": "USD",
        "estimated": False,
    }


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--proofs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sql-leaves", type=int, default=None, help="records for the SQL part [default: --leaves]")
    ap.add_argument("--no-sql", action="store_true", help="skip the SQL part")
    ap.add_argument("--statement-leaves", type=int, default=1_000_000, help="leaves of the statement part")
    ap.add_argument("--no-statement", action="store_true", help="skip the statement part")
    ap.add_argument("--only-statement", action="store_true", help="run the statement part only")
    ap.add_argument("--tiles-leaves", type=int, default=100_000, help="leaves of the tiles part (bench/tlog_tiles.py)")
    ap.add_argument("--tile-requests", type=int, default=2000, help="tile requests timed against the gateway")
    ap.add_argument("--no-tiles", action="store_true", help="skip the tiles part")
    ap.add_argument("--only-tiles", action="store_true", help="run the tiles part only")
    args = ap.parse_args()
    if args.only_statement:
        bench_statement(args.statement_leaves)
        return
    if args.only_tiles:
        _tiles(args)
        return
    n = args.leaves

    integrated = MerkleTree(MemoryStore())  # JCS + leaf hash + append
    prehashed = MerkleTree(MemoryStore())  # leaf hash + append, JCS done beforehand
    t_integrated = t_jcs = t_append = t_sha = 0.0
    sample_rfc8785: list[dict[str, Any]] = []
    sha256 = hashlib.sha256
    clock = time.perf_counter
    for start in range(0, n, CHUNK):
        chunk = [record(i) for i in range(start, min(start + CHUNK, n))]
        if not sample_rfc8785:
            sample_rfc8785 = chunk[:20_000]
        t0 = clock()
        integrated.append_many(leaf_hash(r) for r in chunk)
        t1 = clock()
        datas = [leaf_data(r) for r in chunk]
        t2 = clock()
        prehashed.append_many(hash_leaf(d) for d in datas)
        t3 = clock()
        for d in datas:
            sha256(d).digest()
        t4 = clock()
        t_integrated += t1 - t0
        t_jcs += t2 - t1
        t_append += t3 - t2
        t_sha += t4 - t3
    assert integrated.root() == prehashed.root()

    m = len(sample_rfc8785)
    t_ref = timed(lambda: [rfc8785.dumps(r) for r in sample_rfc8785]) / m
    t_fast = timed(lambda: [leaf_data(r) for r in sample_rfc8785]) / m
    for r in sample_rfc8785[:1000]:
        assert leaf_data(r) == rfc8785.dumps(r)

    rng = random.Random(args.seed)
    tree = integrated
    incl_gen, incl_ver, cons_gen, cons_ver = [], [], [], []
    root = tree.root()
    for _ in range(args.proofs):
        i = rng.randrange(n)
        t = time.perf_counter()
        p = tree.inclusion_proof(i)
        incl_gen.append(time.perf_counter() - t)
        leaf = tree.leaf_hash(i)
        t = time.perf_counter()
        verify_inclusion(i, n, leaf, p, root)
        incl_ver.append(time.perf_counter() - t)

        size1 = rng.randrange(1, n + 1)
        root1 = tree.root(size1)
        t = time.perf_counter()
        c = tree.consistency_proof(size1)
        cons_gen.append(time.perf_counter() - t)
        t = time.perf_counter()
        verify_consistency(size1, n, c, root1, root)
        cons_ver.append(time.perf_counter() - t)

    rows = [
        ("append: JCS + leaf hash + append (integrated)", f"{n / t_integrated:,.0f} leaves/s"),
        ("append: leaf hash + append (JCS excluded)", f"{n / t_append:,.0f} leaves/s"),
        ("  JCS alone (fast path)", f"{n / t_jcs:,.0f} leaves/s"),
        ("  baseline: hashlib.sha256 of the same bytes", f"{n / t_sha:,.0f} leaves/s"),
        ("  integrated / baseline", f"{t_integrated / t_sha:.1f}x the baseline's time"),
        ("JCS per record: fast path", f"{t_fast * 1e6:.1f} us"),
        ("JCS per record: rfc8785 reference", f"{t_ref * 1e6:.1f} us ({t_ref / t_fast:.1f}x)"),
        (
            "  integrated if rfc8785 were used",
            f"{1 / (t_ref + (t_integrated / n - t_fast)):,.0f} leaves/s",
        ),
        (f"inclusion proof, median of {args.proofs}: generate", f"{median_us(incl_gen):.1f} us"),
        ("inclusion proof: verify", f"{median_us(incl_ver):.1f} us"),
        (f"consistency proof, median of {args.proofs}: generate", f"{median_us(cons_gen):.1f} us"),
        ("consistency proof: verify", f"{median_us(cons_ver):.1f} us"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"revshare.tlog bench: {n:,} leaves, MemoryStore, root {root.hex()[:16]}...")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    if not args.no_sql:
        bench_sql(args.sql_leaves or n, args.proofs, n / t_integrated, n / t_append, median_us(incl_gen))
    if not args.no_statement:
        bench_statement(args.statement_leaves)
    if not args.no_tiles:
        _tiles(args)


def _tiles(args: argparse.Namespace) -> None:
    from tlog_tiles import bench_tiles  # bench/tlog_tiles.py, beside this script

    bench_tiles(args.tiles_leaves, args.tile_requests, usage_record, CHUNK)


def usage_record(seq: int) -> Any:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from revshare.records.record import Outcome, UsageRecord

    t = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(microseconds=seq * 1234)
    return UsageRecord(
        id=f"rec_{seq:028x}", started_at=t, ended_at=t + timedelta(seconds=1), customer=f"cust-{seq % 97}",
        key_id=f"key_{seq % 1013:04d}", model="gemma-3-270m", engine="llama.cpp", endpoint="chat.completions",
        outcome=Outcome.OK, prompt_tokens=100 + seq % 4000, completion_tokens=seq % 512,
        amount=Decimal(f"0.{seq % 999_999_999_999:012d}"), currency="USD",
        price_version="gemma-3-270m@2025-01-01T00:00:00Z", licensors=("google",), stream=seq % 2 == 0,
    )


def bench_sql(n: int, proofs: int, mem_integrated: float, mem_append: float, mem_incl_us: float) -> None:
    """SQLite figures beside the in-memory ones: append, integrate, proofs."""
    import os
    import shutil
    import tempfile

    from revshare.config import parse_catalog
    from revshare.ledger.store import Ledger
    from revshare.logstore.identity import load_identity
    from revshare.logstore.integrator import integrate
    from revshare.logstore.schema import tlog_logs
    from revshare.logstore.tree_store import LogReader, SqlTreeStore

    tmp = tempfile.mkdtemp(prefix="revshare-bench-")
    ledger = Ledger(f"sqlite:///{tmp}/ledger.db")
    ledger.migrate()
    catalog = parse_catalog({
        "server": {"host_name": "bench", "data_dir": tmp},
        "engines": [{"id": "llama.cpp", "kind": "upstream", "base_url": "http://127.0.0.1:1/v1"}],
        "models": [{"id": "gemma-3-270m", "engine": "llama.cpp", "licensor": "google"}],
        "prices": [{"model": "gemma-3-270m", "input_per_million": "0.1", "output_per_million": "0.4",
                    "effective_from": "2025-01-01T00:00:00Z"}],
    })
    identity = load_identity(catalog)
    batch = 5_000
    # (a) SqlTreeStore append alone, leaf hashes given, one transaction per batch.
    with ledger.engine.begin() as conn:
        conn.execute(tlog_logs.insert().values(log_id="bench", origin="bench/append", size=0))
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(n)]
    t_sql_append = 0.0
    for start in range(0, n, batch):
        t = time.perf_counter()
        with ledger.engine.begin() as conn:
            MerkleTree(SqlTreeStore(conn, "bench")).append_many(hashes[start:start + batch])
        t_sql_append += time.perf_counter() - t
    del hashes
    # (b) integrate(): usage records in the ledger (appended untimed) to signed checkpoints.
    for start in range(1, n + 1, CHUNK):
        ledger.append_now([usage_record(i) for i in range(start, min(start + CHUNK, n + 1))])
    t = time.perf_counter()
    checkpoints = integrate(ledger, catalog, identity=identity, batch_size=batch)
    t_integrate = time.perf_counter() - t
    assert checkpoints["google"].checkpoint.size == n
    # (c) proofs served from SQL (a connection, the frontier and one SELECT of O(log n) nodes each).
    reader = LogReader(ledger)
    rng = random.Random(2)
    incl: list[float] = []
    for _ in range(proofs):
        i = rng.randrange(n)
        t = time.perf_counter()
        reader.inclusion_proof("google", i, n)
        incl.append(time.perf_counter() - t)
    size = os.path.getsize(f"{tmp}/ledger.db")
    rows = [
        ("SQLite: SqlTreeStore append (leaf hashes given)",
         f"{n / t_sql_append:,.0f} leaves/s ({mem_append / (n / t_sql_append):.1f}x MemoryStore's time)"),
        ("SQLite: integrate() records -> signed checkpoint",
         f"{n / t_integrate:,.0f} leaves/s ({mem_integrated / (n / t_integrate):.1f}x in-memory integrated time)"),
        (f"SQLite: inclusion proof, median of {proofs}",
         f"{median_us(incl):.0f} us ({median_us(incl) / mem_incl_us:.1f}x MemoryStore)"),
        ("SQLite: database file (ledger + 2 logs' nodes + leaves)", f"{size / 1e6:,.0f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"revshare SQL log bench: {n:,} records, batches of {batch:,}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    ledger.close()
    shutil.rmtree(tmp, ignore_errors=True)


@functools.lru_cache(maxsize=4096)
def _pseudo(name: bytes) -> str:
    return hashlib.sha256(name).hexdigest()


def projection(seq: int) -> dict[str, Any]:
    """A leaf projection as `metering.projection.project` makes it (January 2026, one model)."""
    prompt, completion = 100 + seq % 4000, seq % 512
    amount = (prompt * 10 + completion * 40) * 10**4  # 0.10 and 0.40 per 1M tokens, in units of 1e-12
    t = f"2026-01-{1 + seq * 30 // 1_000_003 % 30:02d}T{seq % 24:02d}:{seq % 60:02d}:00.{seq % 10**6:06d}Z"
    return {
        "v": 1, "seq": seq, "record_id": f"rec_{seq:028x}", "started_at": t, "ended_at": t,
        "customer": _pseudo(b"c%d" % (seq % 97)), "key": _pseudo(b"k%d" % (seq % 970)),  # 10 keys per customer
        "model": "gemma-3-270m", "licensors": ["google"], "endpoint": "chat.completions", "stream": seq % 2 == 0,
        "prompt_tokens": prompt, "completion_tokens": completion, "cached_tokens": 0, "outcome": "ok",
        "price_version": "gemma-3-270m@2026-01-01T00:00:00Z", "amount": f"{amount // 10**12}.{amount % 10**12:012d}",
        "currency": "USD", "estimated": False,
    }


def bench_statement(n: int) -> None:
    """Time verify_bundle on a one-contract statement over n leaves (the bundle is written untimed)."""
    import shutil
    import tempfile
    from dataclasses import replace
    from decimal import Decimal
    from pathlib import Path

    from revshare.settlement import (
        ContractConfig,
        LicensorConfig,
        LogRef,
        Period,
        UsageAggregate,
        Window,
        settle,
        sort_aggregates,
        statement_json,
    )
    from revshare.settlement.bundle_terms import HostTerms, ModelTerms, PriceTerms, StatementTerms
    from revshare.tlog import Checkpoint, HostKey
    from revshare.tlog.compact import append_leaves, fold
    from revshare.verify import verify_bundle

    tmp = Path(tempfile.mkdtemp(prefix="revshare-bench-statement-"))
    key = HostKey.generate("bench/revshare")
    origin = "bench/revshare/google"
    period = Period(2026, 1)
    sums: dict[tuple[str, str, str, str, int, bool], list[int]] = {}
    hashes: list[bytes] = []
    with open(tmp / "leaves.jsonl", "wb") as f:
        for start in range(1, n + 1, CHUNK):
            datas = [leaf_data(projection(i)) for i in range(start, min(start + CHUNK, n + 1))]
            for d in datas:
                hashes.append(hash_leaf(d))
            f.write(b"\n".join(datas) + b"\n")
            for i in range(start, min(start + CHUNK, n + 1)):
                p = projection(i)
                acc = sums.setdefault((p["customer"], p["key"], p["model"], p["price_version"], 0, False), [0, 0, 0])
                acc[0] += 1
                acc[1] += p["prompt_tokens"]
                acc[2] += p["completion_tokens"]
    border: list[bytes] = []
    append_leaves(border, 0, hashes)
    root = fold(border)
    del hashes
    terms = StatementTerms(
        HostTerms("bench"), (LicensorConfig(id="google", name="Google LLC"),),
        (ContractConfig(id="google-gemma", licensor="google", models=("gemma-3-270m",), share=Decimal("0.10"),
                        effective_from=period.start),),
        (ModelTerms("gemma-3-270m"),),
        (PriceTerms("gemma-3-270m", "gemma-3-270m@2026-01-01T00:00:00Z", "USD", Decimal("0.10"), Decimal("0.40")),))
    result = settle(terms, Window(period), sort_aggregates(UsageAggregate(*k, *v) for k, v in sums.items()))
    statement = replace(result.statements[0], log=LogRef(origin, n, root.hex(), 1, n, through_seq=n))
    body = statement_json(statement)
    stem = "statement-google-google-gemma-2026-01"
    (tmp / f"{stem}.json").write_bytes(body)
    sig = {"key": key.verifier_text(), "signature": key.sign_json(statement.to_json()), "statement": f"{stem}.json",
           "type": "revshare.statement-signature/v1"}
    (tmp / f"{stem}.sig").write_bytes(rfc8785.dumps(sig) + b"\n")
    (tmp / "checkpoint").write_text(key.sign_note(Checkpoint(origin, n, root).to_text()))
    (tmp / "border.json").write_bytes(rfc8785.dumps({"size": 0, "hashes": []}))
    (tmp / "consistency.json").write_bytes(rfc8785.dumps({"old": 0, "new": n, "proof": []}))
    (tmp / "carried.jsonl").write_bytes(b"")
    (tmp / "terms.json").write_bytes(rfc8785.dumps(terms.to_json()))
    from revshare.verify import scan as verify_scan

    t = time.perf_counter()
    verdicts = verify_bundle(tmp, key.verifier_text())
    elapsed = time.perf_counter() - t
    assert verdicts[0].statement["totals"]["amount_due"] == str(statement.totals.amount_due)
    split = verify_scan._split
    verify_scan._split = lambda n: False  # the same, in this process alone
    try:
        t = time.perf_counter()
        verify_bundle(tmp, key.verifier_text())
        alone = time.perf_counter() - t
    finally:
        verify_scan._split = split
    size = (tmp / "leaves.jsonl").stat().st_size
    print(f"revshare verify statement bench: {n:,} leaves ({size / 1e6:,.0f} MB of leaves.jsonl), one contract")
    print(f"  verify_bundle, steps (0)-(5)  {elapsed:.2f} s ({n / elapsed:,.0f} leaves/s), "
          f"amount due {statement.totals.amount_due} USD; leaves scanned in {'2 processes' if split(n) else '1'}")
    print(f"  the same in one process       {alone:.2f} s ({n / alone:,.0f} leaves/s)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
