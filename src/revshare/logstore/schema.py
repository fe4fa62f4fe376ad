"""Tables of the verifiable log (migration 0003), on the ledger's shared `metadata`.

    tlog_logs         one row per log: its id, origin and size (the TreeStore's size)
    tlog_nodes        perfect-subtree hashes keyed (log_id, level, idx); level 0 = leaf hashes
    tlog_leaves       each leaf's bytes (the record projection's canonical JSON), for export
    tlog_checkpoints  every signed checkpoint note, by (log_id, size)
    tlog_state        the integration cursor: the last ledger seq integrated into every log
    licensor_tokens   licensors' read tokens; only a SHA-256 of the secret is kept
    tlog_cosignatures (migration 0009) the witnesses' cosignatures of the checkpoints, by (log_id,
                      size, witness key): the cosignature/v1 line and the root it cosigned

Nodes, leaves and the cursor move in one transaction, so a crash leaves either all of a
batch or none of it, and a restart resumes from the committed cursor.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, LargeBinary, String, Table, Text

from revshare.ledger.schema import metadata

__all__ = [
    "licensor_tokens",
    "tlog_checkpoints",
    "tlog_cosignatures",
    "tlog_leaves",
    "tlog_logs",
    "tlog_nodes",
    "tlog_state",
]

tlog_logs = Table(
    "tlog_logs",
    metadata,
    Column("log_id", String(140), primary_key=True),
    Column("origin", String(400), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
)

tlog_nodes = Table(
    "tlog_nodes",
    metadata,
    Column("log_id", String(140), primary_key=True),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

tlog_leaves = Table(
    "tlog_leaves",
    metadata,
    Column("log_id", String(140), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("data", Text, nullable=False),  # RFC 8785 JSON of the projection: the leaf bytes
)
Index("ux_tlog_leaves_seq", tlog_leaves.c.log_id, tlog_leaves.c.seq, unique=True)

tlog_checkpoints = Table(
    "tlog_checkpoints",
    metadata,
    Column("log_id", String(140), primary_key=True),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),  # the C2SP signed note
    Column("signed_at", DateTime(timezone=True), nullable=False),
)

tlog_state = Table(
    "tlog_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("integrated_seq", BigInteger, nullable=False),
)

licensor_tokens = Table(
    "licensor_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("licensor", String(128), nullable=False),
    Column("label", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

tlog_cosignatures = Table(
    "tlog_cosignatures",
    metadata,
    Column("log_id", String(140), primary_key=True),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(400), primary_key=True),  # the witness's key, `<name>+<hex key id>`
    Column("root", LargeBinary(32), nullable=False),  # the root it cosigned at that size
    Column("line", Text, nullable=False),  # `— <name> <base64(key id || time || signature)>`, verified
    Column("cosigned_at", BigInteger, nullable=False),  # the cosignature's own timestamp (POSIX seconds)
    Column("received_at", DateTime(timezone=True), nullable=False),
)
