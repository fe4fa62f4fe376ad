"""Usage summaries: the rollups' totals with fewer columns (src/revshare/reporting/schema.py),
so that the console's overview, billing and widest explorer views read a few hundred or thousand
rows instead of one per customer, key and model. Filled here from the rollups already folded;
folded alongside them from then on (src/revshare/reporting/fold.py). `usage_daily_lines` also
keeps `changed_seq`, the last fold that changed a row (0 for rows filled here), so that the
licensor share re-reads only the days changed since it last looked.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TYPES = {"customer": sa.String(128), "model": sa.String(128), "price_version": sa.String(200),
          "outcome": sa.String(32), "currency": sa.String(3), "billing_period": sa.String(7)}
_TOTALS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "amount_units", "amount_pico")
_PICO = 10**12
# name, time column, the rollup it is summed from, its group columns, its indexes
_SUMMARIES = (
    ("usage_daily_lines", "day", "usage_daily",
     ("customer", "model", "price_version", "outcome", "currency", "billing_period"),
     (("customer_day", ("customer", "day")), ("billing_period", ("billing_period",)),
      ("changed_seq", ("changed_seq",)))),
    ("usage_daily_models", "day", "usage_daily", ("model", "outcome", "currency", "billing_period"), ()),
    ("usage_hourly_models", "hour", "usage_rollups", ("model", "outcome", "currency", "billing_period"), ()),
    ("usage_hourly_customers", "hour", "usage_rollups", ("customer", "outcome", "currency", "billing_period"),
     (("customer_hour", ("customer", "hour")),)),
)


def upgrade() -> None:
    conn = op.get_bind()
    for name, when, source, groups, indexes in _SUMMARIES:
        table = op.create_table(
            name,
            sa.Column(when, sa.DateTime(timezone=True), primary_key=True),
            *(sa.Column(column, _TYPES[column], primary_key=True) for column in groups),
            *(sa.Column(column, sa.BigInteger, nullable=False) for column in _TOTALS),
            # the last fold that changed the row (reporting.licensor_share re-reads the days that changed)
            *([sa.Column("changed_seq", sa.BigInteger, nullable=False)] if name == "usage_daily_lines" else []),
        )
        for suffix, columns in indexes:
            op.create_index(f"ix_{name}_{suffix}", name, list(columns))
        src = sa.table(source, sa.column(when, sa.DateTime(timezone=True)),
                       *(sa.column(c) for c in (*groups, *_TOTALS)))
        keys = [src.c[c] for c in (when, *groups)]
        query = sa.select(*keys, *(sa.func.sum(src.c[c]) for c in _TOTALS)).group_by(*keys)
        rows = []
        for row in conn.execute(query):
            *key, requests, prompt, completion, cached, units, pico = row
            extra, pico = divmod(int(pico), _PICO)  # picounits back under one unit
            rows.append({**dict(zip((when, *groups), key, strict=True)), "requests": int(requests),
                         "prompt_tokens": int(prompt), "completion_tokens": int(completion),
                         "cached_tokens": int(cached), "amount_units": int(units) + extra, "amount_pico": pico,
                         **({"changed_seq": 0} if name == "usage_daily_lines" else {})})
            if len(rows) == 10_000:
                op.bulk_insert(table, rows)
                rows = []
        if rows:
            op.bulk_insert(table, rows)


def downgrade() -> None:
    for name, _, _, _, indexes in reversed(_SUMMARIES):
        for suffix, _ in indexes:
            op.drop_index(f"ix_{name}_{suffix}", table_name=name)
        op.drop_table(name)
