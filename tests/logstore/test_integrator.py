"""Integration into per-licensor logs: exactly once, crash-safe, never signing an inconsistent checkpoint."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import text

import tests.support.tlog_ledger as h
from revshare.config import Catalog
from revshare.ledger.store import Ledger
from revshare.logstore import integrator
from revshare.logstore.audit import audit
from revshare.logstore.identity import HOST_LOG, load_identity
from revshare.logstore.integrator import ForeignCheckpointError, InconsistentLogError, LedgerGapError, integrate
from revshare.logstore.tree_store import LogReader
from revshare.records.projection import PROJECTION_FIELDS, customer_pseudonym, project
from revshare.tlog import (
    Checkpoint,
    HostKey,
    MemoryStore,
    MerkleTree,
    RootMismatchError,
    UnknownKeyError,
    leaf_data,
    leaf_hash,
    open_note,
)
from revshare.verify import verify_extension, verify_leaves, verify_receipt_text


@pytest.fixture
def setup(ledger_url: str, tmp_path: Path) -> Iterator[tuple[Ledger, Catalog]]:
    ledger = Ledger(ledger_url)
    ledger.migrate()
    yield ledger, h.catalog(tmp_path)
    ledger.close()


def leaf_seqs(ledger: Ledger, log_id: str) -> list[int]:
    reader = LogReader(ledger)
    return [leaf.seq for leaf in reader.leaves(log_id, 0, reader.log(log_id).size)]


def test_records_go_into_each_licensors_log_exactly_once_across_restarts(setup: tuple[Ledger, Catalog]) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 4, licensors=("google",))
    h.fill(ledger, 5, 6, licensors=("acme-ft", "google"))  # a fine-tune: both licensors' logs
    h.fill(ledger, 7, 7, licensors=())  # no licensor: the host's log
    first = integrate(ledger, catalog)
    assert {k: v.checkpoint.size for k, v in first.items()} == {"google": 6, "acme-ft": 2, HOST_LOG: 1}
    assert integrate(ledger, catalog) == first  # a restart with nothing new: nothing moves
    h.fill(ledger, 8, 10)
    # A crash after the nodes were written but before the commit: nothing of the batch stays.
    with mock.patch.object(integrator, "_check_extends", side_effect=RuntimeError("power cut")), \
            pytest.raises(RuntimeError):
        integrate(ledger, catalog)
    assert LogReader(ledger).integrated_seq() == 7 and leaf_seqs(ledger, "google") == [1, 2, 3, 4, 5, 6]
    second = integrate(ledger, catalog)
    assert second["google"].checkpoint.size == 9 and leaf_seqs(ledger, "google") == [1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert leaf_seqs(ledger, "acme-ft") == [5, 6] and leaf_seqs(ledger, HOST_LOG) == [7]
    # The stored tree equals a tree built in memory from the ledger's own records.
    identity = load_identity(catalog)
    memory = MerkleTree(MemoryStore())
    memory.append_many(leaf_hash(project(r, identity.secret)) for r in ledger.records() if "google" in r.licensors)
    assert memory.root() == second["google"].checkpoint.root_hash
    assert audit(ledger, catalog) == []


def test_batches_and_checkpoints_chain(setup: tuple[Ledger, Catalog]) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 25)
    integrate(ledger, catalog, batch_size=7)
    reader = LogReader(ledger)
    notes = reader.checkpoints("google")
    assert [size for size, _ in notes] == [7, 14, 21, 25]
    vkey = load_identity(catalog).key.verifier_text()
    for (old_size, old), (new_size, new) in itertools.pairwise(notes):
        verify_extension(old, new, reader.consistency_proof("google", old_size, new_size), vkey)
    leaves = reader.leaves("google", 0, 25)
    assert verify_leaves([x.data.encode() for x in leaves], notes[-1][1], vkey).checkpoint.size == 25


def test_a_batch_prepared_before_another_integrator_moved_the_cursor_is_prepared_again(
        setup: tuple[Ledger, Catalog]) -> None:
    """Leaves are hashed before the lock is taken: if the CLI's `revshare log integrate` commits in
    between, the batch is read again under the lock, and no record goes into a log twice."""
    ledger, catalog = setup
    h.fill(ledger, 1, 6)
    prepare = integrator._prepare
    raced: list[int] = []

    def prepared_then_raced(*args: object, **kwargs: object) -> object:
        prepared = prepare(*args, **kwargs)  # type: ignore[arg-type]
        if not raced and kwargs.get("cursor", args[3] if len(args) > 3 else None) is None:
            raced.append(prepared.count)
            h.fill(ledger, 7, 9)
            integrate(ledger, catalog, batch_size=4)  # the other integrator: seq 1-9, in 3 batches
        return prepared

    with mock.patch.object(integrator, "_prepare", side_effect=prepared_then_raced):
        integrate(ledger, catalog)
    assert raced == [6]
    assert leaf_seqs(ledger, "google") == list(range(1, 10))
    assert [size for size, _ in LogReader(ledger).checkpoints("google")] == [4, 8, 9]
    assert audit(ledger, catalog) == []


def test_projection_holds_no_name_and_binds_the_seq(setup: tuple[Ledger, Catalog]) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 1, customer="acme")
    integrate(ledger, catalog)
    leaf = LogReader(ledger).leaves("google", 0, 1)[0]
    projection = leaf.projection()
    assert tuple(sorted(projection)) == PROJECTION_FIELDS
    assert "acme" not in leaf.data and "key_acme" not in leaf.data
    assert projection["customer"] == customer_pseudonym(load_identity(catalog).secret, "acme")
    assert projection["seq"] == 1 and projection["amount"] == "0.000001234567"
    assert leaf.data.encode() == leaf_data(projection)


def test_a_deleted_seq_stops_integration(setup: tuple[Ledger, Catalog]) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 5)
    integrate(ledger, catalog)
    h.fill(ledger, 6, 8)
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM usage_records WHERE seq = 6"))
    with pytest.raises(LedgerGapError, match=r"ledger seq 6 is missing \(the next record is seq 7, id rec_t00000007\)"):
        integrate(ledger, catalog)
    assert LogReader(ledger).integrated_seq() == 5


@pytest.mark.parametrize("change", ["edited", "deleted", "inserted", "reordered"])
def test_audit_names_each_change_to_the_ledger(setup: tuple[Ledger, Catalog], change: str) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 6)
    integrate(ledger, catalog)
    assert audit(ledger, catalog) == []
    with ledger.engine.begin() as conn:
        if change == "edited":
            conn.execute(text("UPDATE usage_records SET amount = '0.000000000001' WHERE seq = 3"))
        elif change == "deleted":
            conn.execute(text("DELETE FROM usage_records WHERE seq = 4"))
        elif change == "inserted":  # a record slipped in at seq 3, the later ones pushed down
            h.fill(ledger, 99, 99)  # seq 7
            for old, new in [(7, 100), (6, 7), (5, 6), (4, 5), (3, 4), (100, 3)]:
                conn.execute(text(f"UPDATE usage_records SET seq = {new} WHERE seq = {old}"))
        else:
            conn.execute(text("UPDATE usage_records SET seq = 100 WHERE seq = 2"))
            conn.execute(text("UPDATE usage_records SET seq = 2 WHERE seq = 5"))
            conn.execute(text("UPDATE usage_records SET seq = 5 WHERE seq = 100"))
    findings = audit(ledger, catalog)
    messages = [str(f) for f in findings]
    expected = {
        "edited": "log google: edited: record rec_t00000003 (seq 3, leaf 2) was edited: "
                  "amount is '0.000000000001' in the ledger, '0.000001234567' in the log",
        "deleted": "log google: deleted: leaf 3 signed record rec_t00000004 (seq 4), which the ledger no longer holds",
        "inserted": "log google: inserted: seq 3: leaf 2 signed record rec_t00000003, "
                    "the ledger now holds rec_t00000099 at that seq",
        "reordered": "log google: reordered: seq 2: leaf 1 signed record rec_t00000002, "
                     "the ledger now holds rec_t00000005 at that seq",
    }[change]
    assert messages[0] == expected, messages


def test_a_rewritten_tree_is_never_signed(setup: tuple[Ledger, Catalog], caplog: pytest.LogCaptureFixture) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 4)
    before = integrate(ledger, catalog)["google"]
    # Rewrite history: a different leaf 1 and the subtree above it, as a forger would.
    identity = load_identity(catalog)
    forged = [leaf_hash({"forged": i}) for i in range(4)]
    tree = MerkleTree(MemoryStore())
    tree.append_many(forged)
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM tlog_nodes WHERE log_id = 'google'"))
    with ledger.engine.begin() as conn:
        from revshare.logstore.tree_store import SqlTreeStore

        store = SqlTreeStore(conn, "google")
        conn.execute(text("UPDATE tlog_logs SET size = 0 WHERE log_id = 'google'"))
        MerkleTree(store).append_many(forged)
    h.fill(ledger, 5, 5)
    with pytest.raises(InconsistentLogError, match="refusing to sign size 5: it is not consistent with the "
                       "checkpoint signed at size 4"):
        integrate(ledger, catalog)
    assert LogReader(ledger).latest_checkpoint("google") == before.note  # nothing new was signed
    assert LogReader(ledger).integrated_seq() == 4
    # A verifier holding the old checkpoint catches the host even if it signs the rewrite itself.
    rewritten = identity.key.sign_note(Checkpoint(before.checkpoint.origin, 4, tree.root()).to_text())
    with pytest.raises(RootMismatchError):
        verify_extension(before.note, rewritten, [], identity.key.verifier_text())


def test_a_checkpoint_by_another_key_is_refused(setup: tuple[Ledger, Catalog], tmp_path: Path) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 3)
    integrate(ledger, catalog)
    other = h.catalog(tmp_path / "other-host")  # another data dir: another key
    h.fill(ledger, 4, 4)
    with pytest.raises(ForeignCheckpointError, match="does not verify under this host's key"):
        integrate(ledger, other)
    # Offline, a note signed by another key fails with the signer named.
    stranger = HostKey.generate("test-host/revshare")
    note = stranger.sign_note(Checkpoint("test-host/revshare/google", 1, leaf_hash({})).to_text())
    with pytest.raises(UnknownKeyError, match="no signature from a known key"):
        open_note(note, load_identity(catalog).key.verifier_text())


def test_receipts_verify_and_a_foreign_record_does_not(setup: tuple[Ledger, Catalog]) -> None:
    ledger, catalog = setup
    h.fill(ledger, 1, 9)
    integrate(ledger, catalog)
    vkey = load_identity(catalog).key.verifier_text()
    receipt = LogReader(ledger).receipt("google", 6)
    verdict = verify_receipt_text(receipt.to_json(), vkey, origin="test-host/revshare/google")
    assert verdict.record["record_id"] == "rec_t00000006" and verdict.verified.index == 5
    assert verify_receipt_text(receipt.to_tlog_proof(), vkey).verified.index == 5
    # A receipt for a record that is not in the log: the proof cannot lead to the signed root.
    alien = {**dict(receipt.record), "record_id": "rec_never_logged"}
    with pytest.raises(RootMismatchError, match="calculated root"):
        verify_receipt_text(type(receipt)(alien, receipt.index, receipt.proof, receipt.checkpoint).to_json(), vkey)


def test_checkpoints_at_a_period_cut_off(setup: tuple[Ledger, Catalog]) -> None:
    from revshare.logstore.integrator import IntegrationError, checkpoints_at_seq

    ledger, catalog = setup
    h.fill(ledger, 1, 6)
    h.fill(ledger, 7, 8, licensors=())
    h.fill(ledger, 9, 12)
    with pytest.raises(IntegrationError, match="integrated up to seq 0, not 8"):
        checkpoints_at_seq(ledger, catalog, 8)
    integrate(ledger, catalog)  # integrates past the cut-off: 10 google leaves
    at = checkpoints_at_seq(ledger, catalog, 8)
    assert {k: v.checkpoint.size for k, v in at.items()} == {"google": 6, HOST_LOG: 2}
    assert checkpoints_at_seq(ledger, catalog, 8) == at  # signed once, then read back
    reader = LogReader(ledger)
    assert reader.leaf_range("google", 3, 10) == (3, 8)
    vkey = load_identity(catalog).key.verifier_text()
    leaves = reader.leaves("google", 0, 6)
    assert verify_leaves([x.data.encode() for x in leaves], at["google"].note, vkey).checkpoint.size == 6
    newest = reader.latest_checkpoint("google")
    verify_extension(at["google"].note, newest, reader.consistency_proof("google", 6, 10), vkey)
