"""Who may call the gateway, kept in the ledger database: customers, their keys' limits, and an
append-only audit of every change (docs/ACCOUNTS.md). The catalog's customers are imported at
start; the admin API and `revshare customers` manage the rest while gateways run."""
