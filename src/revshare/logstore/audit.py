"""Audit: does the ledger still hold exactly what the logs signed?

    audit(ledger, catalog) -> [Finding, ...]     (empty: all good)

Per log, (1) every stored checkpoint verifies under the host key; (2) the stored leaves,
hashed again, rebuild the signed root of every checkpoint, and the stored tree gives the
newest signed root; (3) every ledger record up to the integration cursor projects to exactly
the leaf signed for its seq. A record edited, deleted, inserted or reordered in the database
shows up in (3), named by seq, record id, log and leaf index; a rewritten tree or leaf table
shows up in (2). Findings are values (one per problem); the CLI prints them and exits 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from revshare.config import Catalog
from revshare.ledger.store import Ledger
from revshare.logstore.identity import LogIdentity, load_identity, log_ids_for
from revshare.logstore.tree_store import LeafRow, LogReader
from revshare.records.projection import project
from revshare.records.record import UsageRecord
from revshare.tlog import (
    Checkpoint,
    MemoryStore,
    MerkleTree,
    TlogError,
    hash_leaf,
    leaf_data,
    open_note,
)

__all__ = ["Finding", "audit"]

PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the audit found wrong.

    Attributes:
        log_id: the log concerned.
        kind: checkpoint | leaves | tree | edited | deleted | inserted | reordered.
        message: what differs, with seq, record id and leaf index.
    """

    log_id: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"log {self.log_id}: {self.kind}: {self.message}"


def _all_records(ledger: Ledger, upto: int) -> Iterator[UsageRecord]:
    after = 0
    while after < upto:
        page = ledger.records(after_seq=after, limit=min(PAGE, upto - after))
        if not page:
            return
        yield from page
        after = page[-1].seq or after


def audit(ledger: Ledger, catalog: Catalog, identity: LogIdentity | None = None) -> list[Finding]:
    """Check every log against its checkpoints and the ledger; return what is wrong."""
    ident = identity or load_identity(catalog, create=False)
    reader = LogReader(ledger)
    findings: list[Finding] = []
    leaves_by_log: dict[str, dict[int, LeafRow]] = {}
    for info in reader.logs():
        leaves = reader.leaves(info.log_id, 0, info.size)
        findings += _check_log(reader, ident, info.log_id, leaves)
        leaves_by_log[info.log_id] = {leaf.seq: leaf for leaf in leaves}
    findings += _check_records(ledger, ident, reader.integrated_seq(), leaves_by_log)
    return findings


def _check_log(reader: LogReader, ident: LogIdentity, log_id: str, leaves: list[LeafRow]) -> list[Finding]:
    found: list[Finding] = []
    # (1) The checkpoints are ours.
    signed: list[Checkpoint] = []
    for cp_size, note in reader.checkpoints(log_id):
        try:
            checkpoint = Checkpoint.from_text(open_note(note, ident.key.verifier()))
        except TlogError as exc:
            found.append(Finding(log_id, "checkpoint", f"checkpoint at size {cp_size} does not verify: {exc}"))
            continue
        if checkpoint.size != cp_size or checkpoint.origin != ident.origin(log_id):
            found.append(Finding(log_id, "checkpoint", f"checkpoint stored at size {cp_size} says "
                                 f"{checkpoint.origin} size {checkpoint.size}"))
            continue
        signed.append(checkpoint)
    # (2) The stored leaves rebuild every signed root; the stored tree gives the newest.
    tree = MerkleTree(MemoryStore())
    previous_seq = 0
    for i, leaf in enumerate(leaves):
        if leaf.index != i:
            found.append(Finding(log_id, "leaves", f"leaf {i} is missing from the leaf table"))
            return found
        if leaf.seq <= previous_seq:
            found.append(Finding(log_id, "reordered", f"leaf {i} is seq {leaf.seq}, after seq {previous_seq}"))
        previous_seq = leaf.seq
        tree.append(hash_leaf(leaf.data.encode()))
    for checkpoint in signed:
        if checkpoint.size > tree.size:
            found.append(Finding(log_id, "leaves", f"checkpoint size {checkpoint.size} but only {tree.size} leaves"))
        elif tree.root(checkpoint.size) != checkpoint.root_hash:
            found.append(Finding(log_id, "leaves", f"the stored leaves give root {tree.root(checkpoint.size).hex()} "
                                 f"at size {checkpoint.size}, the signed checkpoint says {checkpoint.root_hash.hex()}"))
    if signed:
        newest = signed[-1]
        try:
            stored_root = reader.root(log_id, newest.size)
        except Exception as exc:  # a broken tree table is a finding, not a crash
            found.append(Finding(log_id, "tree", f"the stored tree has no root at size {newest.size}: {exc}"))
        else:
            if stored_root != newest.root_hash:
                found.append(Finding(log_id, "tree", f"the stored tree gives root {stored_root.hex()} at size "
                                     f"{newest.size}, the signed checkpoint says {newest.root_hash.hex()}"))
    return found


def _fields_differ(got: dict[str, Any], want: dict[str, Any]) -> str:
    keys = sorted(set(got) | set(want))
    diffs = [f"{k} is {got.get(k)!r} in the ledger, {want.get(k)!r} in the log"
             for k in keys if got.get(k) != want.get(k)]
    return "; ".join(diffs)


def _check_records(ledger: Ledger, ident: LogIdentity, cursor: int,
                   leaves_by_log: dict[str, dict[int, LeafRow]]) -> list[Finding]:
    found: list[Finding] = []
    unseen = {log_id: dict(by_seq) for log_id, by_seq in leaves_by_log.items()}
    seq_of_id = {log_id: {json.loads(leaf.data)["record_id"]: seq for seq, leaf in by_seq.items()}
                 for log_id, by_seq in leaves_by_log.items()}
    for r in _all_records(ledger, cursor):
        seq = r.seq or 0
        projection = project(r, ident.secret)
        data = leaf_data(projection).decode()
        for log_id in log_ids_for(r.licensors):
            leaf = unseen.get(log_id, {}).pop(seq, None)
            if leaf is None:
                signed_at = seq_of_id.get(log_id, {}).get(r.id)
                if signed_at is not None:
                    found.append(Finding(log_id, "reordered", f"record {r.id} is seq {seq} in the ledger, "
                                         f"the log signed it at seq {signed_at}"))
                else:
                    found.append(Finding(log_id, "inserted", f"ledger record {r.id} (seq {seq}) is not in the log, "
                                         f"which is integrated up to seq {cursor}"))
                continue
            if leaf.data == data:
                continue
            signed = leaf.projection()
            if signed.get("record_id") != r.id:
                where = seq_of_id[log_id].get(r.id)
                kind = "reordered" if where is not None else "inserted"
                found.append(Finding(log_id, kind, f"seq {seq}: leaf {leaf.index} signed record "
                                     f"{signed.get('record_id')}, the ledger now holds {r.id} at that seq"))
            else:
                found.append(Finding(log_id, "edited", f"record {r.id} (seq {seq}, leaf {leaf.index}) was edited: "
                                     + _fields_differ(projection, signed)))
    for log_id, rest in unseen.items():
        for seq, leaf in sorted(rest.items()):
            record_id = leaf.projection().get("record_id")
            found.append(Finding(log_id, "deleted", f"leaf {leaf.index} signed record {record_id} (seq {seq}), "
                                 "which the ledger no longer holds"))
    return found
