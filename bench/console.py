"""Benchmark: the console's reads (`GET /admin/usage`, `/admin/billing`) over a month of rollups.

    PYTHONPATH=src python bench/console.py                       # 10 million records' rollups, SQLite
    PYTHONPATH=src python bench/console.py --database postgres   # the same on the local PostgreSQL
    PYTHONPATH=src python bench/console.py --records 1000000     # a quick run
    PYTHONPATH=src python bench/console.py --fold-cost           # what folding costs per record

What folding a month of records would leave is written straight into the rollups (one row per
UTC hour, and per day, customer, key and model that has usage; `--records` spread over them) and
their summaries (the same totals without the key, or by model or customer only), so the
month needs no hour of folding first: the queries read only the rollups, never the records, so
their cost depends on the rollup rows, which this reports. Each query runs `--runs` times;
p50 and p99 in ms. Goal (issue 9): overview and usage explorer under 100 ms p50, 300 ms p99.

  overview       the month by day, split by model             (usage, granularity=day)
  explorer-day   7 days by day, split by customer             (the explorer's first view)
  explorer-hour  a day by hour, split by model                (zoomed in)
  explorer-wide  7 days by hour, split by customer            (the largest answer: 168 x 200 rows;
                 the explorer reads at most its 5,000 rows and says "too many"; wide-api-all is
                 the same for GET /admin/usage, which returns every row)
  customer       one customer's month by day, split by key    (usage, customer=...)
  billing        every customer's invoice figures for the month (invoice_figures)
  licensor-share the overview's licensor share per day over the month (licensor_share: the
                 settlement priced over the month's charged rollups up to each day), unchanged
                 since the last call; share-new-fold: after a fold that changed today's usage;
                 share-cold: a process's first call (every day settled; a tenth of the runs)
  overview-page  what the overview page reads: overview, billing, licensor-share and outcomes;
                 overview-new-fold: the same after a fold that changed today's usage
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, select, text

from revshare.api.console.usage_view import MAX_ROWS
from revshare.config import Catalog, parse_catalog
from revshare.ledger.store import Ledger
from revshare.records.record import Outcome, UsageRecord
from revshare.reporting.invoices import invoice_figures
from revshare.reporting.licensor_share import licensor_share
from revshare.reporting.query import usage
from revshare.reporting.rollup import Group, Totals, by_day, project, to_pico
from revshare.reporting.schema import SUMMARIES, group_columns, rollup_state, usage_daily_lines

MONTH = datetime(2026, 11, 1, tzinfo=UTC)
HOURS = 30 * 24
MODELS = ("gemma-3-270m", "llama-3-8b", "qwen2.5-7b")
PRICE = {m: f"{m}@2026-01-01T00:00:00Z" for m in MODELS}


def seed(ledger: Ledger, records: int, customers: int, keys: int, seed_: int = 1) -> int:
    """Rollup rows, hourly and daily, as folding `records` records over the month would leave
    them; returns the hourly rows."""
    rng = random.Random(seed_)
    per_hour = records // HOURS
    hourly: dict[Group, Totals] = {}
    for hour in range(HOURS):
        at = MONTH + timedelta(hours=hour)
        active: dict[tuple[str, str, str], int] = {}
        for _ in range(min(per_hour, 600)):  # the groups with usage this hour
            customer = f"cust{rng.randrange(customers):04d}"
            group = (customer, f"key_{customer}_{rng.randrange(keys)}", rng.choice(MODELS))
            active[group] = active.get(group, 0) + 1
        weight = per_hour / max(1, sum(active.values()))
        for (customer, key, model), n in active.items():
            requests = max(1, round(n * weight))
            prompt, completion = requests * 900, requests * 120
            amount = (Decimal(prompt) * Decimal("0.10") + Decimal(completion) * Decimal("0.40")) / 10**6
            hourly[Group(at, customer, key, model, PRICE[model], "ok", "USD", "2026-11")] = Totals(
                requests, prompt, completion, 0, amount)
    with ledger.engine.begin() as conn:
        for when, groups, table in ((w, g, t) for w, g in (("hour", hourly), ("day", by_day(hourly)))
                                    for t in SUMMARIES[w]):
            columns = group_columns(table)
            rows = [{when: key[0], **dict(zip(columns, key[1:], strict=True)), "requests": t.requests,
                     "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens, "cached_tokens": 0,
                     "amount_units": to_pico(t.amount)[0], "amount_pico": to_pico(t.amount)[1],
                     **({"changed_seq": records} if "changed_seq" in table.c else {})}
                    for key, t in project(groups, columns).items()]
            for i in range(0, len(rows), 20_000):
                conn.execute(table.insert(), rows[i:i + 20_000])
        conn.execute(rollup_state.update().values(folded_seq=records))
    return len(hourly)


def bench_catalog() -> Catalog:
    """The benchmark's models, each with a price and a licensor's flat-share contract."""
    return parse_catalog({
        "server": {"host_name": "bench"},
        "engines": [{"id": "up", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}],
        "models": [{"id": m, "engine": "up", "licensor": "lic"} for m in MODELS],
        "prices": [{"model": m, "input_per_million": "0.10", "output_per_million": "0.40", "currency": "USD",
                    "effective_from": "2026-01-01T00:00:00Z"} for m in MODELS],
        "licensors": [{"id": "lic", "name": "Licensor"}],
        "contracts": [{"id": f"c-{m}", "licensor": "lic", "lineage": m, "share": "0.2", "basis": "gross",
                       "effective_from": "2026-01-01", "currency": "USD"} for m in MODELS],
    })


def fold_cost(records: int = 20_000, batch: int = 2_500) -> None:
    """What folding costs per record (the gateway's fold, beside the request path), with the
    summaries and, as the baseline of the same run, with the full rollups only (as before them)."""
    from revshare.reporting import fold as folding
    from revshare.reporting.schema import usage_daily, usage_rollups

    rng = random.Random(3)
    every = dict(SUMMARIES)
    results: dict[str, float] = {}
    for label, tables in (("full rollups only", {"hour": (usage_rollups,), "day": (usage_daily,)}),
                          ("rollups and summaries", every)):
        folding.SUMMARIES = tables  # type: ignore[attr-defined]
        ledger = Ledger(f"sqlite:///{Path(tempfile.mkdtemp(prefix='revshare-fold-')) / 'ledger.db'}")
        ledger.migrate()
        spent = 0.0
        for first in range(0, records, batch):
            ledger.append_now([_record(n, rng) for n in range(first, first + batch)])
            started = time.perf_counter()
            while folding.fold_new_records(ledger, batch=batch):
                pass
            spent += time.perf_counter() - started
        ledger.close()
        results[label] = spent / records * 1e6
        print(f"{label:22} {results[label]:6.1f} us per record folded ({records:,} records, {batch:,} a fold)")
    folding.SUMMARIES = every  # type: ignore[attr-defined]
    print(f"ratio {results['rollups and summaries'] / results['full rollups only']:.2f}")


def _record(n: int, rng: random.Random) -> UsageRecord:
    """A charged record of one of 200 customers' 3 keys, five a second from 2026-11-29 12:00 UTC."""
    at = MONTH + timedelta(days=28, hours=12, seconds=n // 5)
    customer = f"cust{rng.randrange(200):04d}"
    model = rng.choice(MODELS)
    return UsageRecord(id=f"rec_bench{n:010d}", started_at=at, ended_at=at, customer=customer,
                       key_id=f"key_{customer}_{rng.randrange(3)}", model=model, engine="up",
                       endpoint="chat.completions", outcome=Outcome.OK, prompt_tokens=900, completion_tokens=120,
                       amount=Decimal("0.000138"), currency="USD", price_version=PRICE[model])


def timed(fn: Callable[[], object], runs: int, before: Callable[[], object] | None = None) -> tuple[float, float]:
    fn()  # warm the caches once, as a console that is in use has them
    times = []
    for _ in range(runs):
        if before is not None:
            before()  # untimed
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--keys", type=int, default=3, help="keys per customer")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--fold-cost", action="store_true", help="measure the fold's cost per record instead")
    args = parser.parse_args()
    if args.fold_cost:
        fold_cost()
        return
    if args.database == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='revshare-console-')) / 'ledger.db'}"
    else:
        name = f"revshare_bench_{int(time.time())}"
        with create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                           isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    ledger = Ledger(url)
    ledger.migrate()
    started = time.perf_counter()
    rows = seed(ledger, args.records, args.customers, args.keys)
    print(f"{args.database}: {rows:,} rollup rows for {args.records:,} records "
          f"({args.customers} customers x {args.keys} keys, {len(MODELS)} models, {HOURS} hours), "
          f"seeded in {time.perf_counter() - started:.1f} s")
    end = MONTH + timedelta(days=30)
    prices = {v: (Decimal("0.10"), Decimal("0.40")) for v in PRICE.values()}
    catalog = bench_catalog()
    queries: dict[str, Callable[[], object]] = {
        "overview": lambda: usage(ledger, start=MONTH, end=end, granularity="day", group_by="model"),
        "explorer-day": lambda: usage(ledger, start=end - timedelta(days=7), end=end, granularity="day",
                                      group_by="customer"),
        "explorer-hour": lambda: usage(ledger, start=end - timedelta(days=1), end=end, granularity="hour",
                                       group_by="model"),
        "explorer-wide": lambda: usage(ledger, start=end - timedelta(days=7), end=end, granularity="hour",
                                       group_by="customer", limit=MAX_ROWS),
        "wide-api-all": lambda: usage(ledger, start=end - timedelta(days=7), end=end, granularity="hour",
                                      group_by="customer"),
        "customer": lambda: usage(ledger, start=MONTH, end=end, granularity="day", group_by="key",
                                  customer="cust0007"),
        "billing": lambda: invoice_figures(ledger, "2026-11", prices.__getitem__),
        "licensor-share": lambda: licensor_share(ledger, catalog, start=MONTH.date(),
                                                 end=(end - timedelta(days=1)).date()),
    }
    queries["share-new-fold"] = queries["licensor-share"]

    def share_cold() -> object:
        fresh = Ledger(url)  # nothing kept for a new handle, as in a process just started
        try:
            return licensor_share(fresh, catalog, start=MONTH.date(), end=(end - timedelta(days=1)).date())
        finally:
            fresh.close()

    queries["share-cold"] = share_cold
    queries["outcomes"] = lambda: usage(ledger, start=MONTH, end=end, granularity="day", group_by="outcome")
    queries["overview-page"] = lambda: [queries[q]() for q in ("overview", "billing", "licensor-share", "outcomes")]
    queries["overview-new-fold"] = queries["overview-page"]
    last_day = end - timedelta(days=1)

    def a_fold_today() -> None:
        """What a fold of today's new records does to what the overview reads: one more request
        on a row of the last day and a new folded_seq (the share's prefixes before it are kept)."""
        d = usage_daily_lines
        with ledger.engine.begin() as conn:
            conn.execute(d.update().where(d.c.day == last_day, d.c.customer == "cust0000")
                         .values(requests=d.c.requests + 1, prompt_tokens=d.c.prompt_tokens + 900,
                                 changed_seq=select(rollup_state.c.folded_seq + 1).scalar_subquery()))
            conn.execute(rollup_state.update().values(folded_seq=rollup_state.c.folded_seq + 1))

    print(f"{'query':17} {'p50 ms':>9} {'p99 ms':>9}")
    for name, fn in queries.items():
        runs = max(3, args.runs // 10) if name == "share-cold" else args.runs
        p50, p99 = timed(fn, runs, a_fold_today if name.endswith("new-fold") else None)
        print(f"{name:17} {p50:9.1f} {p99:9.1f}")
    ledger.close()
    if args.database == "postgres":  # the database this run made goes with it
        with create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                           isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f"DROP DATABASE {url.rsplit('/', 1)[1]}"))


if __name__ == "__main__":
    main()
