"""Benchmark: the console's reads (`GET /admin/usage`, `/admin/billing`) over a month of rollups.

    PYTHONPATH=src python bench/console.py                       # 10 million records' rollups, SQLite
    PYTHONPATH=src python bench/console.py --database postgres   # the same on the local PostgreSQL
    PYTHONPATH=src python bench/console.py --records 1000000     # a quick run

What folding a month of records would leave is written straight into the rollups (one row per
UTC hour, and per day, customer, key and model that has usage; `--records` spread over them), so the
month needs no hour of folding first: the queries read only the rollups, never the records, so
their cost depends on the rollup rows, which this reports. Each query runs `--runs` times;
p50 and p99 in ms. Goal (issue 9): overview and usage explorer under 100 ms p50, 300 ms p99.

  overview       the month by day, split by model             (usage, granularity=day)
  explorer-day   7 days by day, split by customer             (the explorer's first view)
  explorer-hour  a day by hour, split by model                (zoomed in)
  explorer-wide  7 days by hour, split by customer            (the largest answer: 168 x 200 rows)
  customer       one customer's month by day, split by key    (usage, customer=...)
  billing        every customer's invoice figures for the month (invoice_figures)
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

from sqlalchemy import create_engine, text

from revshare.ledger.store import Ledger
from revshare.reporting.invoices import invoice_figures
from revshare.reporting.query import usage
from revshare.reporting.rollup import Group, Totals, by_day, to_pico
from revshare.reporting.schema import GROUP_COLUMNS, rollup_state, usage_daily, usage_rollups

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
        for table, groups, when in ((usage_rollups, hourly, "hour"), (usage_daily, by_day(hourly), "day")):
            rows = [{when: g.start, **{k: getattr(g, k) for k in GROUP_COLUMNS}, "requests": t.requests,
                     "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens, "cached_tokens": 0,
                     "amount_units": to_pico(t.amount)[0], "amount_pico": to_pico(t.amount)[1]}
                    for g, t in groups.items()]
            for i in range(0, len(rows), 20_000):
                conn.execute(table.insert(), rows[i:i + 20_000])
        conn.execute(rollup_state.update().values(folded_seq=records))
    return len(hourly)


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm the caches once, as a console that is in use has them
    times = []
    for _ in range(runs):
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
    args = parser.parse_args()
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
    queries: dict[str, Callable[[], object]] = {
        "overview": lambda: usage(ledger, start=MONTH, end=end, granularity="day", group_by="model"),
        "explorer-day": lambda: usage(ledger, start=end - timedelta(days=7), end=end, granularity="day",
                                      group_by="customer"),
        "explorer-hour": lambda: usage(ledger, start=end - timedelta(days=1), end=end, granularity="hour",
                                       group_by="model"),
        "explorer-wide": lambda: usage(ledger, start=end - timedelta(days=7), end=end, granularity="hour",
                                       group_by="customer"),
        "customer": lambda: usage(ledger, start=MONTH, end=end, granularity="day", group_by="key",
                                  customer="cust0007"),
        "billing": lambda: invoice_figures(ledger, "2026-11", prices.__getitem__),
    }
    print(f"{'query':14} {'p50 ms':>9} {'p99 ms':>9}")
    for name, fn in queries.items():
        p50, p99 = timed(fn, args.runs)
        print(f"{name:14} {p50:9.1f} {p99:9.1f}")
    ledger.close()


if __name__ == "__main__":
    main()
