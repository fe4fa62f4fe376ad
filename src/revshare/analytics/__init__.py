"""The analytics store: a columnar copy of the ledger's usage records (DuckDB), beside the ledger.

`store` opens the DuckDB file and knows what it holds (seq 1..N, a count and a digest it can
recompute); `feeder` copies the ledger's records into it by seq, in order, exactly once, through
the project's own SQLAlchemy drivers; `sums` runs settlement's GROUP BY on it in SQL that DuckDB
and ClickHouse both run. The ledger stays the source of truth: the store is a copy that can be
deleted and fed again from seq 1 at any time (docs/SETTLEMENT.md, "Analytics store").
"""
