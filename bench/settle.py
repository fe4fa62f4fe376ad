"""Benchmark: settle a month of synthetic usage (aggregate in SQL + pure settle + render).

    PYTHONPATH=src python bench/settle.py                 # 10 million rows
    PYTHONPATH=src python bench/settle.py --rows 200000   # a quick run

Generation (SQLite by a recursive CTE, PostgreSQL by generate_series, DuckDB by range()) is
timed and reported apart; it is not part of the goal. Each timed settlement runs in a fresh
child process so its peak RSS (VmHWM) is its own. Goal: under 10 s and 1 GB on a 2-core machine.

Options (--options), each on the same rows, reported as ratios against sqlite-one (if run):
  sqlite-one       one GROUP BY over the month (`aggregate_sql`) on the ledger's SQLite file
  sqlite-daily     `read_aggregates`: what `revshare settle` runs (a GROUP BY per day, 2 connections)
  sqlite-covering  the same after adding a covering index (not in the migrations: measured only)
  postgres-one     one GROUP BY on PostgreSQL (hash aggregate)
  postgres-daily   `read_aggregates` on PostgreSQL
  duckdb           one GROUP BY in DuckDB over a copy of the rows (if duckdb is installed)
  columnar         what `revshare settle` runs by default: the analytics store (revshare.analytics), fed
                   from the SQLite ledger by the real feeder (its ingest rate and the store's bytes
                   per record are reported), then summed with its portable SQL (`columnar_aggregate_sql`)
  columnar-generated the same read, on a store generated in DuckDB from the same rows (no SQLite
                   ledger and no feed: the settle figure at scales where feeding would take minutes)

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
             "royalty": [{"direction": "input", "per_million": "0.05"},
                         {"direction": "output", "per_million": "0.10"}]},
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
        f"SELECT x + 1 AS seq, 'rec_' || x AS id, NULL AS idempotency_key, {stamp} AS started_at, {stamp} AS ended_at, "
        f"'cust-' || ((x * 7) % 50) AS customer, 'key-' || ((x * 13) % 200) AS key_id, {model} AS model, "
        "'' AS licensors, 'vllm' AS engine, 'chat.completions' AS endpoint, 0 AS stream, "
        "((x * 7919) % 4000) + 1 AS prompt_tokens, (x * 104729) % 1000 AS completion_tokens, 0 AS cached_tokens, "
        "0 AS estimated, CASE WHEN x % 53 = 0 THEN 'engine_error' ELSE 'ok' END AS outcome, "
        f"{version} AS price_version, '0' AS amount, 'USD' AS currency, '' AS error_code, {stamp} AS appended_at, "
        "'' AS end_user"
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
    con.execute(f"CREATE TABLE usage_records AS {_row_select(rows, ts, '//')} "
                f"FROM (SELECT range AS x FROM range({rows}))")
    con.close()
    return time.perf_counter() - t0


def generate_postgres(url: str, rows: int) -> float:
    from sqlalchemy import create_engine, text

    from revshare.ledger.schema import usage_records

    t0 = time.perf_counter()
    engine = create_engine(url)
    usage_records.drop(engine, checkfirst=True)
    usage_records.create(engine)  # the real DDL, unique id and indexes included
    select_sql = _row_select(rows, "to_timestamp({epoch})", "/").replace(" 0 AS stream", " false AS stream").replace(
        " 0 AS estimated", " false AS estimated")
    with engine.begin() as conn:
        series = f"generate_series(0::bigint, {rows - 1}::bigint) AS g(x)"
        conn.execute(text(f"INSERT INTO usage_records {select_sql} FROM {series}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE usage_records"))
    engine.dispose()
    return time.perf_counter() - t0


COVERING = ("CREATE INDEX IF NOT EXISTS ix_bench_settle_cover ON usage_records (started_at, customer, key_id, model, "
            "price_version, outcome, appended_at, prompt_tokens, completion_tokens)")


def measure(option: str, url: str, out: str) -> dict[str, Any]:
    """The timed part, in a fresh process: aggregate in SQL, settle, validate, render.

    option: "one" (one GROUP BY over the month, `aggregate_sql`), "daily" (`read_aggregates`,
    what `revshare settle` runs on the ledger: one GROUP BY per day, summed), "duckdb", or
    "columnar" (the analytics store at `url`, as `revshare settle` reads it by default).
    """
    from revshare.config import parse_catalog
    from revshare.monthend.usage_sums import aggregate_sql, aggregates_from_rows
    from revshare.settlement import Period, settle, validate_settlement, window_for, write_files

    t0 = time.perf_counter()
    catalog = parse_catalog(catalog_raw(), source="bench")
    window = window_for(catalog.contracts, Period(2026, 1))
    if option == "columnar":
        from revshare.analytics.store import ColumnarStore
        from revshare.analytics.sums import aggregates_of, columnar_aggregate_sql

        with ColumnarStore.open(url, read_only=True) as store:
            aggregates = aggregates_of(store.query(columnar_aggregate_sql(window)))
    elif option == "daily":
        from revshare.ledger.store import Ledger
        from revshare.monthend.usage_sums import read_aggregates

        aggregates = read_aggregates(Ledger(url), window)
    else:
        if option == "duckdb":
            import duckdb
            from sqlalchemy.dialects import sqlite as sqlite_dialect

            sql = str(aggregate_sql(window).compile(dialect=sqlite_dialect.dialect(),
                                                    compile_kwargs={"literal_binds": True}))
            duck = duckdb.connect(url, read_only=True)
            rows = duck.execute(sql).fetchall()
            duck.close()
        else:
            from sqlalchemy import create_engine

            engine = create_engine(url)
            with engine.connect() as conn:
                rows = [tuple(r) for r in conn.execute(aggregate_sql(window))]
            engine.dispose()
        aggregates = aggregates_from_rows(rows)
    t1 = time.perf_counter()
    result = settle(catalog, window, aggregates)
    problems = validate_settlement(result)
    t2 = time.perf_counter()
    files = write_files(out, result.statements, result.invoices)
    t3 = time.perf_counter()
    rss = _peak_rss_mib()
    return {
        "aggregates": len(aggregates), "requests": sum(a.requests for a in aggregates),
        "statements": len(result.statements), "invoices": len(result.invoices), "files": len(files),
        "errors": [e.message for e in (*result.errors, *problems)],
        "aggregate_s": round(t1 - t0, 3), "settle_s": round(t2 - t1, 3), "render_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3), "peak_rss_mib": round(rss, 1),
        "amount_due": {s.contract: str(s.totals.amount_due) for s in result.statements},
    }


def _peak_rss_mib() -> float:
    """This process's peak RSS. Linux: VmHWM, which exec resets (ru_maxrss keeps the high-water
    mark of the process image before exec, i.e. of the parent that generated the data)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(name: str, option: str, url: str, out: Path) -> dict[str, Any]:
    child = subprocess.run([sys.executable, __file__, "--measure", option, url, str(out)],
                           capture_output=True, text=True, env=os.environ.copy())
    if child.returncode != 0:
        raise SystemExit(f"{name}: the measurement failed:\n{child.stderr}")
    res: dict[str, Any] = json.loads(child.stdout)
    print(f"{name:24} aggregate {res['aggregate_s']:7.2f} s + settle {res['settle_s']:.3f} s + render "
          f"{res['render_s']:.3f} s = {res['total_s']:7.2f} s, peak RSS {res['peak_rss_mib']:6.0f} MiB; "
          f"{res['aggregates']} aggregates, {res['requests']:,} charged requests, {res['files']} files, "
          f"{len(res['errors'])} errors", flush=True)
    for e in res["errors"]:
        print(f"  {e}")
    return res


OPTIONS = ("sqlite-one", "sqlite-daily", "sqlite-covering", "postgres-one", "postgres-daily", "duckdb", "columnar",
           "columnar-generated")


def generate_store(path: Path, rows: int) -> float:
    """The analytics store holding the same rows, generated in DuckDB, its cursor set and checked."""
    import duckdb

    from revshare.analytics.store import NAMES, ROW_DIGEST_SQL, ColumnarStore

    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    ColumnarStore.open(path).close()  # the store's own tables
    con = duckdb.connect(str(path))
    ts = "strftime(to_timestamp({epoch}) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') || '.000000'"
    cols = ", ".join("epoch_us(CAST(started_at AS TIMESTAMP))" if n == "started_us" else
                     "epoch_us(CAST(appended_at AS TIMESTAMP))" if n == "appended_us" else n for n in NAMES)
    con.execute(f"INSERT INTO usage SELECT {cols} FROM ({_row_select(rows, ts, '//')} "
                f"FROM (SELECT range AS x FROM range({rows})))")
    con.execute(f"UPDATE feed_cursor SET copied_seq = {rows}, records = {rows}, first_id = 'rec_0', "
                f"last_id = 'rec_{rows - 1}', digest = (SELECT CAST(sum({ROW_DIGEST_SQL}) % 18446744073709551616 "
                "AS UBIGINT) FROM usage)")
    con.execute("CHECKPOINT")
    con.close()
    with ColumnarStore.open(path, read_only=True) as store:
        check = store.check()
    if not check.ok:
        raise SystemExit(f"columnar-generated: the store does not check: {check.problems}")
    return time.perf_counter() - t0


def feed_store(ledger_db: Path, store_path: Path) -> tuple[float, float, int]:
    """Feed the analytics store from the generated SQLite ledger with the real feeder:
    (wall seconds, CPU seconds of this process, bytes)."""
    from revshare.analytics.feeder import feed
    from revshare.analytics.store import ColumnarStore
    from revshare.ledger.store import Ledger

    store_path.unlink(missing_ok=True)
    ledger = Ledger(f"sqlite:///{ledger_db}")
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    with ColumnarStore.open(store_path) as store:
        feed(ledger, store)
        store.checkpoint()
        seconds, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        check = store.check()
        if not check.ok:
            raise SystemExit(f"columnar: the fed store does not check: {check.problems}")
    ledger.close()
    return seconds, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), store_path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", default=None, help="where the databases go (default: a temp dir)")
    parser.add_argument("--options", default=",".join(OPTIONS), help=f"some of {', '.join(OPTIONS)}")
    parser.add_argument("--pg", default=os.environ.get("REVSHARE_BENCH_PG",
                                                        "postgresql+psycopg://postgres@127.0.0.1:5432/revshare_bench"),
                        help="a PostgreSQL database the bench may fill (its usage_records table is replaced)")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases (several GiB at 10M rows)")
    parser.add_argument("--measure", nargs=3, metavar=("OPTION", "URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    chosen = args.options.split(",")
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="revshare-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    print(f"{args.rows:,} rows, January 2026; each measurement in a fresh process")
    if any(o.startswith("sqlite") for o in chosen) or "columnar" in chosen:
        db = workdir / f"usage-{args.rows}.sqlite"
        gen = generate_sqlite(db, args.rows)
        print(f"sqlite: generated in {gen:.1f} s ({db.stat().st_size / 2**20:.0f} MiB), not timed")
        url = f"sqlite:///{db}"
        for option in ("one", "daily"):
            if f"sqlite-{option}" in chosen:
                name = f"sqlite-{option}"
                results[name] = run_child(name, option, url, workdir / f"out-{name}")
        if "sqlite-covering" in chosen:
            import sqlite3

            t0 = time.perf_counter()
            con = sqlite3.connect(db)
            con.execute(COVERING)
            con.close()
            print(f"sqlite: covering index built in {time.perf_counter() - t0:.1f} s "
                  f"(file now {db.stat().st_size / 2**20:.0f} MiB), not timed")
            results["sqlite-covering"] = run_child("sqlite-covering (daily)", "daily", url,
                                                   workdir / "out-sqlite-covering")
        if "columnar" in chosen:
            store = workdir / f"usage-{args.rows}.analytics.duckdb"
            seconds, cpu, size = feed_store(db, store)
            print(f"columnar: fed {args.rows:,} records from the SQLite ledger in {seconds:.1f} s "
                  f"({args.rows / seconds:,.0f} records/s; {args.rows / cpu:,.0f} per CPU second), store "
                  f"{size / 2**20:.0f} MiB "
                  f"({size / args.rows:.1f} bytes per record; the SQLite ledger {db.stat().st_size / args.rows:.0f})",
                  flush=True)
            results["columnar"] = run_child("columnar", "columnar", str(store), workdir / "out-columnar")
    if any(o.startswith("postgres") for o in chosen):
        try:
            _ensure_pg_database(args.pg)
            gen = generate_postgres(args.pg, args.rows)
        except Exception as exc:  # report it and go on with the other options
            print(f"postgres: skipped ({exc.__class__.__name__}: {exc})")
        else:
            print(f"postgres: generated in {gen:.1f} s, not timed")
            for option in ("one", "daily"):
                if f"postgres-{option}" in chosen:
                    results[f"postgres-{option}"] = run_child(f"postgres-{option}", option, args.pg,
                                                              workdir / f"out-postgres-{option}")
    if "duckdb" in chosen:
        try:
            db = workdir / f"usage-{args.rows}.duckdb"
            gen = generate_duckdb(db, args.rows)
        except ImportError:
            print("duckdb: skipped (pip install duckdb to measure it; revshare itself does not need it)")
        else:
            print(f"duckdb: generated in {gen:.1f} s, not timed")
            results["duckdb"] = run_child("duckdb", "duckdb", str(db), workdir / "out-duckdb")
    if "columnar-generated" in chosen:
        store = workdir / f"usage-{args.rows}.generated.duckdb"
        gen = generate_store(store, args.rows)
        size = store.stat().st_size
        print(f"columnar-generated: generated in {gen:.1f} s ({size / args.rows:.1f} bytes per record), not timed")
        results["columnar-generated"] = run_child("columnar-generated", "columnar", str(store),
                                                  workdir / "out-columnar-generated")
    if not args.keep:
        _clean(workdir, args.pg if any(o.startswith("postgres") for o in chosen) else None)
    if results:
        base_name = "sqlite-one" if "sqlite-one" in results else next(iter(results))
        base = results[base_name]
        print(f"\nratios against {base_name} (total time; lower is faster):")
        for name, res in results.items():
            same = "same statements" if res["amount_due"] == base["amount_due"] else "DIFFERENT STATEMENTS"
            print(f"  {name:24} {res['total_s'] / base['total_s']:.3f}x  ({res['total_s']:.2f} s, "
                  f"{res['peak_rss_mib']:.0f} MiB, {same})")


def _clean(workdir: Path, pg: str | None) -> None:
    for path in workdir.glob("usage-*"):
        path.unlink()
    if pg:
        from sqlalchemy import create_engine

        from revshare.ledger.schema import usage_records

        engine = create_engine(pg)
        try:
            usage_records.drop(engine, checkfirst=True)
        except Exception as exc:  # the figures are in; only say the table is left behind
            print(f"postgres: could not drop the bench table ({exc.__class__.__name__})")
        engine.dispose()


def _ensure_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


if __name__ == "__main__":
    main()
