"""Check a log from what the host exported: leaves against signed checkpoints, and extension.

`verify_leaves` rebuilds the tree from the leaf bytes (in memory) and requires the root at
the checkpoint's size to be the signed root; it is the base of statement verification,
which also needs the leaves of exactly the statement's range. `verify_extension` checks that
a newer checkpoint extends an older one (RFC 9162 2.1.4), sizes and roots taken from the
signed notes, never from the proof's sender.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from revshare.tlog import (
    Checkpoint,
    MemoryStore,
    MerkleTree,
    OriginMismatchError,
    RootMismatchError,
    TreeSizeError,
    hash_leaf,
    open_note,
    verify_checkpoint_consistency,
)
from revshare.tlog.note import Verifier

__all__ = ["LeavesVerdict", "verify_extension", "verify_leaves"]

VerifierArg = Verifier | str | Sequence[Verifier | str]


@dataclass(frozen=True)
class LeavesVerdict:
    """Leaves that rebuild a signed checkpoint.

    Attributes:
        checkpoint: the verified checkpoint.
        tree: the rebuilt tree (in memory), for further proofs over the same leaves.
    """

    checkpoint: Checkpoint
    tree: MerkleTree


def open_checkpoint(note: str, verifier: VerifierArg, origin: str | None = None) -> Checkpoint:
    """A signed checkpoint note, opened under a trusted key (and of the expected origin)."""
    checkpoint = Checkpoint.from_text(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise OriginMismatchError(checkpoint.origin, origin)
    return checkpoint


def verify_leaves(leaves: Iterable[bytes], checkpoint_note: str, verifier: VerifierArg) -> LeavesVerdict:
    """The leaf bytes 0..n-1 of a log rebuild the root of its signed checkpoint at its size."""
    checkpoint = open_checkpoint(checkpoint_note, verifier)
    tree = MerkleTree(MemoryStore())
    tree.append_many(hash_leaf(data) for data in leaves)
    if tree.size < checkpoint.size:
        raise TreeSizeError(checkpoint.size, tree.size)
    root = tree.root(checkpoint.size)
    if root != checkpoint.root_hash:
        raise RootMismatchError(root, checkpoint.root_hash, f"root of the leaves at size {checkpoint.size}")
    return LeavesVerdict(checkpoint, tree)


def verify_extension(old_note: str, new_note: str, proof: Sequence[bytes], verifier: VerifierArg) -> Checkpoint:
    """The newer signed checkpoint extends the older one; return the newer."""
    old = open_checkpoint(old_note, verifier)
    new = open_checkpoint(new_note, verifier, old.origin)
    if old.size == 0:
        return new  # every tree extends the empty one
    verify_checkpoint_consistency(old, new, proof)
    return new
