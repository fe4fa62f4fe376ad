"""The transparency-dev/merkle proof vectors, every file, straight from ../shared/testdata.

Happy paths must verify (and, where the vector's root is one of the README's eight-leaf
tree, equal the proof our tree produces); every wantErr case must be rejected with a
ProofError.

Size-0 policy: these vectors (copied from upstream at a commit where size1 = 0 was always
refused) mark every consistency check from size 0 as an error, including 0 -> 0 with equal
roots; our verifier refuses size1 = 0 too (EmptyTreeProofError), so all of them agree.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from revshare.tlog import (
    MemoryStore,
    MerkleTree,
    ProofError,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)
from tests.support.tlog_reference import README_LEAVES

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO.parent / "shared" / "testdata" / "rfc6962"


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json")) if VECTORS.is_dir() else []


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(VECTORS)) for p in paths]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _proof(v: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in v["proof"] or []]


# Skipped on a checkout without ../shared; never in CI, where a missing vector file must fail.
needs_vectors = pytest.mark.skipif(
    not VECTORS.is_dir() and not os.environ.get("CI"),
    reason=f"test vectors not found at {VECTORS} (clone shared/ beside the repo)",
)


@pytest.fixture(scope="module")
def readme_tree() -> MerkleTree:
    tree = MerkleTree(MemoryStore())
    tree.append_many(hash_leaf(bytes.fromhex(x)) for x in README_LEAVES)
    return tree


@needs_vectors
def test_vectors_are_all_there() -> None:
    assert len(_files("inclusion")) > 50
    assert len(_files("consistency")) > 50


@needs_vectors
@pytest.mark.parametrize("path", _files("inclusion"), ids=_ids(_files("inclusion")))
def test_inclusion_vector(path: Path, readme_tree: MerkleTree) -> None:
    v = _load(path)
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
        return
    verify_inclusion(*args)
    index, size, root = v["leafIdx"], v["treeSize"], _b64(v["root"])
    if size <= readme_tree.size and readme_tree.root(size) == root:
        assert readme_tree.inclusion_proof(index, size) == _proof(v)


@needs_vectors
@pytest.mark.parametrize("path", _files("consistency"), ids=_ids(_files("consistency")))
def test_consistency_vector(path: Path, readme_tree: MerkleTree) -> None:
    v = _load(path)
    args = (v["size1"], v["size2"], _proof(v), _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
        return
    verify_consistency(*args)
    size1, size2, root2 = v["size1"], v["size2"], _b64(v["root2"])
    if size2 <= readme_tree.size and readme_tree.root(size2) == root2:
        assert readme_tree.consistency_proof(size1, size2) == _proof(v)
