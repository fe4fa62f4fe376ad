"""C2SP tlog-checkpoint bodies: round trips and one error per malformed case."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revshare.tlog import (
    Checkpoint,
    CheckpointExtensionError,
    CheckpointNewlineError,
    CheckpointOriginError,
    CheckpointRootHashError,
    CheckpointSizeError,
    CheckpointTooShortError,
    EmptyTreeProofError,
    MalformedCheckpointError,
    MemoryStore,
    MerkleTree,
    OriginMismatchError,
    RootMismatchError,
    hash_leaf,
    verify_checkpoint_consistency,
)

ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
SPEC_EXAMPLE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_spec_example() -> None:
    c = Checkpoint.from_text(SPEC_EXAMPLE)
    assert c == Checkpoint("example.com/behind-the-sofa", 20852163, ROOT)
    assert c.to_text() == SPEC_EXAMPLE


def test_extensions_round_trip() -> None:
    text = SPEC_EXAMPLE + "ext one\next two\n"
    c = Checkpoint.from_text(text)
    assert c.extensions == ("ext one", "ext two")
    assert c.to_text() == text


line = st.text(st.characters(exclude_characters="\n", codec="utf-8"), min_size=1)


@given(
    line, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.lists(line, max_size=3)
)
def test_round_trip(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    c = Checkpoint(origin, size, root, tuple(ext))
    assert Checkpoint.from_text(c.to_text()) == c


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (SPEC_EXAMPLE[:-1], CheckpointNewlineError),
        ("origin\n12\n", CheckpointTooShortError),
        ("\n12\n" + SPEC_EXAMPLE.split("\n")[2] + "\n", CheckpointOriginError),
        (SPEC_EXAMPLE.replace("20852163", "020852163"), CheckpointSizeError),
        (SPEC_EXAMPLE.replace("20852163", "+20852163"), CheckpointSizeError),
        (SPEC_EXAMPLE.replace("20852163", "-1"), CheckpointSizeError),
        (SPEC_EXAMPLE.replace("20852163", "2085 2163"), CheckpointSizeError),
        (SPEC_EXAMPLE.replace("20852163", "١٢"), CheckpointSizeError),  # Arabic-Indic digits
        (SPEC_EXAMPLE.replace("20852163", str(2**64)), CheckpointSizeError),
        (SPEC_EXAMPLE.replace("20852163", ""), CheckpointSizeError),
        (SPEC_EXAMPLE.replace("q2I=", "q2I"), CheckpointRootHashError),
        (SPEC_EXAMPLE.replace("q2I=", "q2"), CheckpointRootHashError),
        (SPEC_EXAMPLE.replace("q2I=", "q2I=AAAA"), CheckpointRootHashError),
        (SPEC_EXAMPLE.replace("CsUY", "C_UY"), CheckpointRootHashError),
        (SPEC_EXAMPLE.replace("q2I=", "q2J="), CheckpointRootHashError),  # non-canonical bits
        (SPEC_EXAMPLE + "\n", CheckpointExtensionError),
        (SPEC_EXAMPLE + "ext\n\nmore\n", CheckpointExtensionError),
    ],
)
def test_malformed(text: str, error: type[MalformedCheckpointError]) -> None:
    with pytest.raises(error):
        Checkpoint.from_text(text)


def test_constructor_checks() -> None:
    with pytest.raises(CheckpointRootHashError):
        Checkpoint("o", 1, b"short")
    with pytest.raises(CheckpointSizeError):
        Checkpoint("o", -1, ROOT)
    with pytest.raises(CheckpointOriginError):
        Checkpoint("two\nlines", 1, ROOT)


def test_checkpoint_consistency() -> None:
    tree = MerkleTree(MemoryStore())
    tree.append_many(hash_leaf(bytes([i])) for i in range(11))
    old, new = Checkpoint("log", 6, tree.root(6)), Checkpoint("log", 11, tree.root())
    proof = tree.consistency_proof(6, 11)
    verify_checkpoint_consistency(old, new, proof)
    with pytest.raises(OriginMismatchError):
        verify_checkpoint_consistency(old, Checkpoint("other", 11, tree.root()), proof)
    with pytest.raises(RootMismatchError):
        verify_checkpoint_consistency(Checkpoint("log", 6, tree.root(5)), new, proof)
    with pytest.raises(EmptyTreeProofError):
        verify_checkpoint_consistency(Checkpoint("log", 0, tree.root(0)), new, [])
