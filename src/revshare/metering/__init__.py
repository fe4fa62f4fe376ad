"""The rules of a metered request, as values: admission (`Admitted` or a `Refusal`), the bound it
may use, rate limits, the reservations the ledger writes, rating, and the record of a run."""
