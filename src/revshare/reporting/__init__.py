"""Usage as people read it: hourly rollups of the ledger's records, folded in order and exactly
once, and the queries a console, an export or `GET /admin/usage` answer from, never a scan of raw
records (docs/API.md, "Usage")."""
