"""The durable usage ledger: SQLAlchemy Core tables, the group-commit append path, queries."""
