"""Pin the public names of revshare.tlog, so an API change is a deliberate one."""

from __future__ import annotations

import revshare.tlog as tlog
from revshare.tlog import errors

PUBLIC = {
    # hashing and leaves
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "canonicalize",
    "hash_children",
    "hash_leaf",
    "leaf_data",
    "leaf_hash",
    # tree and store
    "MemoryStore",
    "MerkleTree",
    "PreparedAppend",
    "NodeKey",
    "TreeStore",
    # proofs
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "verify_checkpoint_consistency",
    "verify_consistency",
    "verify_inclusion",
    # checkpoints, notes, keys
    "Checkpoint",
    "HostKey",
    "Note",
    "Signature",
    "Signer",
    "Verifier",
    "open_note",
    "parse_note",
    "sign_note",
    "verify_json",
    # receipts
    "Receipt",
    "VerifiedReceipt",
    "verify_receipt",
}


def test_public_names() -> None:
    assert set(tlog.__all__) == PUBLIC | set(errors.__all__)
    for name in tlog.__all__:
        assert hasattr(tlog, name), name


def test_every_error_is_a_tlog_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.TlogError), name


def test_every_error_is_drawn_in_the_hierarchy() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} missing from the tree in errors.py's docstring"
