"""The witnesses' cosignatures of the host's checkpoints, kept in `tlog_cosignatures` (migration 0009).

    store_cosignature(ledger, log_id, checkpoint, witness, cosignature)   keep one, verified by the caller
    cosigned_note(conn, log_id, note)        a stored note with the cosignature lines of its checkpoint
    latest_cosigned(conn, log_id, witness)   the largest (size, root) a witness cosigned of a log
    pending_checkpoints(conn, log_id, ...)   the signed checkpoints a witness has not cosigned yet
    cosigned_sizes(conn)                     per log, per witness key, the largest size cosigned

A cosignature is stored with the root it covers, and a note gets only the lines of its own
(size, root): if the host ever signed another root at a size a witness cosigned (a fork), that
note is published without the witness's cosignature, never with one that does not verify.
Published notes are the host's signed note followed by the cosignature lines, sorted by witness
key: one signed note, as C2SP clients read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from revshare.ledger.store import Ledger
from revshare.logstore.schema import tlog_checkpoints, tlog_cosignatures
from revshare.tlog import Checkpoint
from revshare.tlog.cosignature import Cosignature

__all__ = [
    "PendingCheckpoint",
    "checkpoint_of",
    "cosigned_note",
    "cosigned_sizes",
    "latest_cosigned",
    "pending_checkpoints",
    "store_cosignature",
]


def checkpoint_of(note: str) -> Checkpoint:
    """The checkpoint body of a signed note the host stored (its own signature is not checked here)."""
    return Checkpoint.from_text(note.partition("\n\n")[0] + "\n")


def cosigned_note(conn: Connection, log_id: str, note: str) -> str:
    """`note` with the stored cosignature lines of exactly its checkpoint (size and root) appended."""
    checkpoint = checkpoint_of(note)
    rows = conn.execute(select(tlog_cosignatures.c.root, tlog_cosignatures.c.line).where(
        tlog_cosignatures.c.log_id == log_id, tlog_cosignatures.c.size == checkpoint.size,
    ).order_by(tlog_cosignatures.c.witness)).all()
    lines = [str(line) for root, line in rows if bytes(root) == checkpoint.root_hash and str(line) not in note]
    return note + "".join(lines)


def latest_cosigned(conn: Connection, log_id: str, witness: str) -> tuple[int, bytes] | None:
    """The largest size of `log_id` the witness (key `<name>+<hex id>`) cosigned for us, and its root."""
    c = tlog_cosignatures.c
    row = conn.execute(select(c.size, c.root).where(c.log_id == log_id, c.witness == witness)
                       .order_by(c.size.desc()).limit(1)).first()
    return None if row is None else (int(row.size), bytes(row.root))


@dataclass(frozen=True, slots=True)
class PendingCheckpoint:
    """A signed checkpoint to submit: its body and the host's signed note."""

    checkpoint: Checkpoint
    note: str


def pending_checkpoints(conn: Connection, log_id: str, witness: str, *, at_least: int = 0,
                        limit: int = 64) -> list[PendingCheckpoint]:
    """The signed checkpoints of `log_id` the witness has not cosigned, smallest first.

    Those larger than the last it cosigned (and than `at_least`, a size the witness told us it
    holds), and one of the same size with another root: submitted, that one is refused as a fork,
    which the host should hear of. A witness that never cosigned this log for us, nor told us a
    size, is shown the newest checkpoint only: it starts there, not at the log's first checkpoint.
    """
    latest = latest_cosigned(conn, log_id, witness)
    floor = max(at_least, latest[0] if latest else 0)
    c = tlog_checkpoints.c
    if latest is None and at_least == 0:
        newest = conn.execute(select(c.note).where(c.log_id == log_id).order_by(c.size.desc()).limit(1)).scalar()
        return [] if newest is None else [PendingCheckpoint(checkpoint_of(str(newest)), str(newest))]
    rows = conn.execute(select(c.size, c.note).where(c.log_id == log_id, c.size >= floor)
                        .order_by(c.size).limit(limit + 1)).all()
    out: list[PendingCheckpoint] = []
    for _, note in rows:
        checkpoint = checkpoint_of(str(note))
        if latest is not None and checkpoint.size == latest[0] and checkpoint.root_hash == latest[1]:
            continue  # cosigned already
        out.append(PendingCheckpoint(checkpoint, str(note)))
    return out[:limit]


def store_cosignature(ledger: Ledger, log_id: str, checkpoint: Checkpoint, witness: str,
                      cosignature: Cosignature) -> bool:
    """Keep a verified cosignature of `checkpoint`; False if one of that witness and size is kept already."""
    try:
        with ledger.engine.begin() as conn:
            conn.execute(tlog_cosignatures.insert().values(
                log_id=log_id, size=checkpoint.size, witness=witness, root=checkpoint.root_hash,
                line=cosignature.to_line(), cosigned_at=cosignature.timestamp, received_at=datetime.now(UTC)))
    except IntegrityError:  # another gateway (or an export) kept one first
        return False
    return True


def cosigned_sizes(conn: Connection) -> dict[str, dict[str, int]]:
    """Per log, per witness key, the largest size it cosigned."""
    c = tlog_cosignatures.c
    out: dict[str, dict[str, int]] = {}
    for log_id, witness, size in conn.execute(select(c.log_id, c.witness, func.max(c.size))
                                              .group_by(c.log_id, c.witness)):
        out.setdefault(str(log_id), {})[str(witness)] = int(size)
    return out
