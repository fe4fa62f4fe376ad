"""Interop with tlog-scales, an independent Python implementation of C2SP checkpoints and cosignatures.

tlog-scales 0.0.3 verifies notes, Ed25519 cosignatures (0x04) and ML-DSA-44 ones (0x06), writes
tiles logs signed with plain Ed25519 note keys (0x01), and builds consistency proofs from tiles.
It has no Ed25519 cosignature *signer*, so the other direction covers what it does produce:
its checkpoints and proofs (witnessed by revshare), and its ML-DSA-44 cosignatures (which
revshare must skip, not choke on).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from tlog_scales import backend, reader, signing, writer
from tlog_scales import tlog as scales

from revshare.tlog import Checkpoint, MemoryStore, MerkleTree, Verifier, hash_leaf, open_note
from revshare.tlog.cosignature import UnsupportedCosignatureKeyError, WitnessKey, verify_cosignatures
from revshare.tlog.policy import MalformedPolicyError, parse_policy, verify_with_policy
from revshare.witness import BadProofError, Witness, WitnessStore, parse_logs, render_add_checkpoint
from tests.support.witness import HOST_KEY, ORIGIN, Log, witness_toml

SCALES_ORIGIN = "scales.example/log"
SCALES_SEED = bytes([3]) * 32


def scales_vkey(key: signing.Vkey) -> str:
    return str(key.serialize())  # type: ignore[no-untyped-call]


def test_scales_reads_our_vkeys_and_key_ids(witness_key: WitnessKey) -> None:
    witness = signing.Vkey.from_string(witness_key.verifier_text())
    assert (witness.name, witness.sig_type, witness.key_id) == (witness_key.name, 4,
                                                                int.from_bytes(witness_key.key_id, "big"))
    recomputed = signing.Vkey(witness.name, None, 4, witness.pubkey)  # key id from its own formula
    assert scales_vkey(recomputed) == witness_key.verifier_text()
    log = signing.Vkey.from_string(HOST_KEY.verifier_text())
    assert scales_vkey(signing.Vkey(log.name, None, 1, log.pubkey)) == HOST_KEY.verifier_text()


def test_scales_verifies_the_cosigned_checkpoint_our_witness_serves(witness: Witness, log: Log,
                                                                    witness_key: WitnessKey) -> None:
    witness.add_checkpoint(log.body(0))
    log.append(11)
    line = witness.add_checkpoint(log.body(5))
    served = witness.latest_checkpoint(ORIGIN)
    cp = scales.Checkpoint.from_text(served)
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 16, log.tree.root())
    cp.verify(signing.Vkey.from_string(HOST_KEY.verifier_text()))  # the log's signature
    cp.verify(signing.Vkey.from_string(witness_key.verifier_text()))  # our cosignature, by its verifier
    keys = signing.VkeySet(signing.Vkey.from_string(HOST_KEY.verifier_text()),
                           signing.Vkey.from_string(witness_key.verifier_text()))
    assert {vkey.sig_type for vkey, _ in keys.verify(cp.signatures, cp)} == {1, 4}
    assert signing.NoteSignature.from_line(line.rstrip("\n")).serialize() == line.rstrip("\n")


def test_scales_refuses_a_cosignature_over_another_checkpoint(witness_key: WitnessKey) -> None:
    text = Checkpoint(ORIGIN, 3, bytes(32)).to_text()
    other = Checkpoint(ORIGIN, 4, bytes(32)).to_text()
    note = HOST_KEY.sign_note(text) + witness_key.cosign(other).to_line()
    with pytest.raises(InvalidSignature):
        scales.Checkpoint.from_text(note).verify(signing.Vkey.from_string(witness_key.verifier_text()))


def test_scales_timestamp_reading_matches_ours(witness_key: WitnessKey) -> None:
    text = Checkpoint(ORIGIN, 3, bytes(32)).to_text()
    cosig = witness_key.cosign(text, 1_700_000_000)
    cp = scales.Checkpoint.from_text(HOST_KEY.sign_note(text) + cosig.to_line())
    assert signing.Ed25519CosignatureVerifier.get_timestamp(cp.signatures[1].payload) == 1_700_000_000


@pytest.fixture
def scales_log(tmp_path: Path) -> tuple[writer.TilesWriter, signing.PlainEd25519Signer]:
    log = writer.TilesWriter.create(tmp_path / "tiles", SCALES_ORIGIN)
    return log, signing.PlainEd25519Signer(SCALES_ORIGIN, SCALES_SEED)


def scales_witness(tmp_path: Path, vkey: str) -> Witness:
    """Our witness, following the scales log."""
    key = WitnessKey("witness.licensor.example/w1", bytes([5]) * 32)
    return Witness(key, parse_logs(witness_toml((SCALES_ORIGIN, vkey))), WitnessStore(tmp_path / "w.db"))


def test_our_witness_witnesses_a_log_written_by_scales(tmp_path: Path, scales_log) -> None:  # type: ignore[no-untyped-def]
    tiles, signer = scales_log
    witness = scales_witness(tmp_path, scales_vkey(signer.vkey))
    read = reader.TilesReader(backend.LocalBackend(tmp_path / "tiles"))
    sizes = [3, 300, 517]  # across a full tile of 256 and into the next
    old = 0
    for size in sizes:
        for i in range(tiles.size, size):
            tiles.add_leaf(f"scales leaf {i}".encode())
        tiles.commit([signer])
        note = (tmp_path / "tiles" / "checkpoint").read_text()
        assert read.get_checkpoint().size == size  # the reader learns the size from the checkpoint
        proof = read.get_consistency_proof(old, size).node_hashes if old else []
        line = witness.add_checkpoint(render_add_checkpoint(old, proof, note))
        # Our cosignature on the scales checkpoint, checked by scales and by us.
        cp = scales.Checkpoint.from_text(note + line)
        cp.verify(signing.Vkey.from_string(witness.key.verifier_text()))
        assert verify_cosignatures(note + line, [witness.key.verifier()])
        old = size
    # Its leaves hash as ours do: our tree over the same leaves gives its signed root.
    ours = MerkleTree(MemoryStore())
    ours.append_many([hash_leaf(f"scales leaf {i}".encode()) for i in range(517)])
    signed = Checkpoint.from_text(open_note((tmp_path / "tiles" / "checkpoint").read_text(),
                                            Verifier.from_text(scales_vkey(signer.vkey))))
    assert signed.root_hash == ours.root()


def test_a_bad_scales_proof_is_refused(tmp_path: Path, scales_log) -> None:  # type: ignore[no-untyped-def]
    tiles, signer = scales_log
    witness = scales_witness(tmp_path, scales_vkey(signer.vkey))
    for i in range(5):
        tiles.add_leaf(f"leaf {i}".encode())
    tiles.commit([signer])
    witness.add_checkpoint(render_add_checkpoint(0, [], (tmp_path / "tiles" / "checkpoint").read_text()))
    for i in range(5, 12):
        tiles.add_leaf(f"leaf {i}".encode())
    tiles.commit([signer])
    read = reader.TilesReader(backend.LocalBackend(tmp_path / "tiles"))
    read.get_checkpoint()
    proof = read.get_consistency_proof(5, 12).node_hashes
    with pytest.raises(BadProofError):
        witness.add_checkpoint(render_add_checkpoint(5, list(reversed(proof)),
                                                     (tmp_path / "tiles" / "checkpoint").read_text()))


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 7), (4, 8), (5, 300), (256, 513), (100, 100)])
def test_scales_accepts_our_consistency_proofs(old: int, new: int) -> None:
    log = Log().append(new)
    scales.ConsistencyProof(old, new, log.tree.consistency_proof(old, new)).check(log.tree.root(old), log.tree.root(new))


def test_mldsa_cosignatures_by_scales_are_skipped_not_choked_on(witness: Witness, log: Log,
                                                               witness_key: WitnessKey) -> None:
    pq = signing.MLDSA44CosignatureSigner("pq.witness.example", bytes([9]) * 32)
    cp = scales.Checkpoint.from_text(log.note())
    pq_line = pq.sign(cp).serialize() + "\n"
    ours = witness.add_checkpoint(render_add_checkpoint(0, [], log.note() + pq_line))  # accepted, the line ignored
    note = log.note() + pq_line + ours
    both = scales.Checkpoint.from_text(note)
    both.verify(pq.vkey)  # scales checks its own ML-DSA cosignature ...
    both.verify(signing.Vkey.from_string(witness_key.verifier_text()))  # ... and ours, in one note
    assert list(verify_cosignatures(note, [witness_key.verifier()])) == [witness_key.verifier()]
    with pytest.raises(UnsupportedCosignatureKeyError, match="0x06"):
        verify_cosignatures(note, [scales_vkey(pq.vkey)])
    with pytest.raises(MalformedPolicyError, match="policy line 2: witness pq: key algorithm 0x06"):
        parse_policy(f"log {HOST_KEY.verifier_text()}\nwitness pq {scales_vkey(pq.vkey)}\nquorum pq\n")
    policy = parse_policy(f"log {HOST_KEY.verifier_text()}\nwitness ours {witness_key.verifier_text()}\nquorum ours\n")
    assert set(verify_with_policy(note, policy).cosignatures) == {"ours"}
