"""Benchmark: settle a month of synthetic usage (aggregate in SQL + pure settle + render).

    PYTHONPATH=src python bench/settle.py                 # 10 million rows
    PYTHONPATH=src python bench/settle.py --rows 200000   # a quick run

Generation (SQLite by a recursive CTE, DuckDB by range()) is timed and reported apart; it is not
part of the goal. Each timed settlement runs in a fresh child process so its peak RSS
(getrusage ru_maxrss) is its own. Goal: under 10 s and 1 GB on a 2-core machine.

DuckDB cannot read the SQLite file here (its sqlite extension is downloaded on first use and
the machine is offline), so the same rows are generated into a DuckDB file and the same
aggregate query (`aggregate_sql`, compiled for SQLite with literal values; timestamps are
stored as the same text in both) runs on each. The two engines' aggregates must be equal.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

START = 1767225600  # 2026-01-01T00:00:00Z
MONTH_SECONDS = 31 * 86400
MID = START + 14 * 86400  # 2026-01-15: a new llama-3-70b price, a new google contract version

MODELS = ["llama-3-8b", "llama-3-70b", "llama-ft-legal", "gemma-2b", "mistral-7b", "qwen-7b"]


def catalog_raw() -> dict[str, Any]:
    price = [("llama-3-8b", "0.20", "0.40"), ("llama-3-70b", "0.90", "1.80"), ("llama-ft-legal", "2.50", "5.00"),
             ("gemma-2b", "0.10", "0.10"), ("mistral-7b", "0.25", "0.25"), ("qwen-7b", "0.15", "0.30")]
    return {
        "server": {"host_name": "bench-host"},
        "engines": [{"id": "vllm", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}],
        "models": [
            {"id": "llama-3-8b", "engine": "vllm", "licensor": "meta"},
            {"id": "llama-3-70b", "engine": "vllm", "licensor": "meta"},
            {"id": "llama-ft-legal", "engine": "vllm", "licensor": "acme", "base_model": "llama-3-70b"},
            {"id": "gemma-2b", "engine": "vllm", "licensor": "google"},
            {"id": "mistral-7b", "engine": "vllm", "licensor": "mistral"},
            {"id": "qwen-7b", "engine": "vllm"},
        ],
        "prices": [{"model": m, "input_per_million": i, "output_per_million": o, "effective_from": "2025-01-01"}
                   for m, i, o in price]
        + [{"model": "llama-3-70b", "input_per_million": "0.80", "output_per_million": "1.60",
            "effective_from": "2026-01-15"}],
        "customers": [{"name": f"cust-{i}"} for i in range(50)],
        "licensors": [{"id": x, "name": x.title()} for x in ("meta", "acme", "google", "mistral")],
        "contracts": [
            {"id": "meta-llama", "licensor": "meta", "lineage": "llama-3-70b", "effective_from": "2025-01-01",
             "tiers": [{"up_to": "1000", "share": "0.10"}, {"up_to": "10000", "share": "0.07"}, {"share": "0.05"}],
             "exempt_customers": ["cust-0"], "basis": "net"},
            {"id": "meta-8b", "licensor": "meta", "models": ["llama-3-8b"], "share": "0.12",
             "minimum_guarantee": "500", "recoupable": True, "effective_from": "2025-01-01"},
            {"id": "acme-legal", "licensor": "acme", "models": ["llama-ft-legal"], "effective_from": "2025-01-01",
             "royalty": [{"direction": "input", "per_million": "0.05"}, {"direction": "output", "per_million": "0.10"}]},
            {"id": "google-gemma", "licensor": "google", "models": ["gemma-*"], "share": "0.08",
             "effective_from": "2025-01-01", "effective_to": "2026-01-15", "exempt_keys": ["key-7"]},
            {"id": "google-gemma", "licensor": "google", "models": ["gemma-*"], "share": "0.11",
             "effective_from": "2026-01-15", "exempt_keys": ["key-7"]},
            {"id": "mistral", "licensor": "mistral", "models": ["mistral-*"], "share": "0.15",
             "minimum_guarantee": "20000", "recoupable": True, "effective_from": "2025-01-01"},
        ],
    }


def _row_select(rows: int, ts: str, idiv: str) -> str:
    """One synthetic row per x, as SQL shared by both engines ({ts}: epoch -> text timestamp)."""
    epoch = f"({START} + (x * {MONTH_SECONDS}) {idiv} {rows})"
    model = "CASE x % 6 " + " ".join(f"WHEN {i} THEN '{m}'" for i, m in enumerate(MODELS)) + " END"
    version = (f"CASE WHEN x % 6 = 1 AND {epoch} >= {MID} THEN 'llama-3-70b@2026-01-15T00:00:00Z' "
               f"ELSE ({model}) || '@2025-01-01T00:00:00Z' END")
    stamp = ts.format(epoch=epoch)
    return (
        f"SELECT x AS seq, 'rec_' || x AS id, NULL AS idempotency_key, {stamp} AS started_at, {stamp} AS ended_at, "
        f"'cust-' || ((x * 7) % 50) AS customer, 'key-' || ((x * 13) % 200) AS key_id, {model} AS model, "
        "'' AS licensors, 'vllm' AS engine, 'chat.completions' AS endpoint, 0 AS stream, "
        "((x * 7919) % 4000) + 1 AS prompt_tokens, (x * 104729) % 1000 AS completion_tokens, 0 AS cached_tokens, "
        "0 AS estimated, CASE WHEN x % 53 = 0 THEN 'engine_error' ELSE 'ok' END AS outcome, "
        f"{version} AS price_version, '0' AS amount, 'USD' AS currency, '' AS error_code, {stamp} AS appended_at"
    )


def generate_sqlite(path: Path, rows: int) -> float:
    import sqlite3

    from sqlalchemy import create_engine

    from revshare.ledger.schema import usage_records

    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    usage_records.create(create_engine(f"sqlite:///{path}"))  # the real DDL, unique id and indexes included
    con = sqlite3.connect(path)
    con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;")
    ts = "strftime('%Y-%m-%d %H:%M:%S', {epoch}, 'unixepoch') || '.000000'"
    con.execute(f"INSERT INTO usage_records WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g "
                f"WHERE x + 1 < {rows}) {_row_select(rows, ts, '/')} FROM g")
    con.commit()
    con.close()
    return time.perf_counter() - t0


def generate_duckdb(path: Path, rows: int) -> float:
    import duckdb

    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    ts = "strftime(to_timestamp({epoch}) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') || '.000000'"
    con.execute(f"CREATE TABLE usage_records AS {_row_select(rows, ts, '//')} FROM (SELECT range AS x FROM range({rows}))")
    con.close()
    return time.perf_counter() - t0


def measure(engine: str, db: str, out: str) -> dict[str, Any]:
    """The timed part, in a fresh process: aggregate in SQL, settle, validate, render."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from revshare.config import parse_catalog
    from revshare.settlement import (
        Period,
        UsageAggregate,
        settle,
        sort_aggregates,
        validate_settlement,
        window_for,
        write_files,
    )
    from revshare.settlement import aggregate_sql as agg_sql

    t0 = time.perf_counter()
    catalog = parse_catalog(catalog_raw(), source="bench")
    window = window_for(catalog.contracts, Period(2026, 1))
    sql = str(agg_sql(window).compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}))
    if engine == "sqlite":
        import sqlite3

        lite = sqlite3.connect(db)
        rows = lite.execute(sql).fetchall()
        lite.close()
    else:
        import duckdb

        duck = duckdb.connect(db, read_only=True)
        rows = duck.execute(sql).fetchall()
        duck.close()
    aggregates = sort_aggregates(UsageAggregate(r[0], r[1], r[2], r[3], int(r[4]), bool(r[5]), int(r[6]),
                                                int(r[7]), int(r[8])) for r in rows)
    t1 = time.perf_counter()
    result = settle(catalog, window, aggregates)
    problems = validate_settlement(result)
    t2 = time.perf_counter()
    files = write_files(out, result.statements, result.invoices)
    t3 = time.perf_counter()
    return {
        "engine": engine, "aggregates": len(aggregates), "requests": sum(a.requests for a in aggregates),
        "statements": len(result.statements), "invoices": len(result.invoices), "files": len(files),
        "errors": [e.message for e in (*result.errors, *problems)],
        "aggregate_s": round(t1 - t0, 3), "settle_s": round(t2 - t1, 3), "render_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "amount_due": {s.contract: str(s.totals.amount_due) for s in result.statements},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", default=None, help="where the databases go (default: a temp dir)")
    parser.add_argument("--engines", default="sqlite,duckdb")
    parser.add_argument("--measure", nargs=3, metavar=("ENGINE", "DB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="revshare-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for engine in args.engines.split(","):
        db = workdir / f"usage-{args.rows}.{'sqlite' if engine == 'sqlite' else 'duckdb'}"
        try:
            gen = (generate_sqlite if engine == "sqlite" else generate_duckdb)(db, args.rows)
        except ImportError as exc:
            print(f"{engine}: skipped ({exc})")
            continue
        print(f"{engine}: generated {args.rows:,} rows in {gen:.1f} s ({db.stat().st_size / 2**20:.0f} MiB)")
        child = subprocess.run([sys.executable, __file__, "--measure", engine, str(db), str(workdir / f"out-{engine}")],
                               capture_output=True, text=True, check=True, env=os.environ.copy())
        res = json.loads(child.stdout)
        results[engine] = res
        print(f"{engine}: aggregate {res['aggregate_s']} s + settle {res['settle_s']} s + render {res['render_s']} s"
              f" = {res['total_s']} s, peak RSS {res['peak_rss_mib']} MiB; {res['aggregates']} aggregates, "
              f"{res['requests']:,} charged requests, {res['statements']} statements, {res['invoices']} invoices, "
              f"{res['files']} files, {len(res['errors'])} errors")
        for e in res["errors"]:
            print(f"  {e}")
    if "sqlite" in results and "duckdb" in results:
        a, b = results["sqlite"], results["duckdb"]
        print(f"same statements from both engines: {a['amount_due'] == b['amount_due']}")
        print(f"sqlite/duckdb ratio: aggregate {a['aggregate_s'] / b['aggregate_s']:.1f}x, "
              f"total {a['total_s'] / b['total_s']:.1f}x")


if __name__ == "__main__":
    main()
