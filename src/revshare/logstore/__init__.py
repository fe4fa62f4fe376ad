"""The verifiable logs kept in SQL: tree storage, integration of ledger records, signing
identity, audit and licensors' read tokens. The pure RFC 6962 side is `revshare.tlog`."""
