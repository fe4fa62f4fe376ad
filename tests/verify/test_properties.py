"""Property: whatever a file holds, the verifiers fail cleanly, or say OK only to what is genuine.

Each bundle file in turn is replaced by arbitrary bytes, arbitrary JSON, the genuine file with
one byte changed, cut short or a line repeated, or the genuine JSON with one value replaced.
`verify_bundle` must then raise a StatementVerifyError (never another exception) or, if it
verifies, the file must say what the genuine one says (the same bytes, or the same JSON). The
receipt and checkpoint verifiers get the same treatment and must raise a TlogError; the CLI must
answer one line and exit 1. A few hundred examples in all: seconds, not minutes.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from revshare.cli import app
from revshare.settlement import bundle_layout as layout
from revshare.tlog import Receipt, TlogError
from revshare.verify import StatementVerifyError, verify_bundle, verify_extension, verify_receipt_text
from revshare.verify.log import open_checkpoint
from tests.support.settled_bundles import Settled

ST = "statement-google-google-gemma-2026-02"
JSON_FILES = {layout.BORDER, layout.CONSISTENCY, layout.TERMS, f"{ST}.json", f"{ST}.sig", f"{ST}.previous.json"}
LINE_FILES = {layout.CARRIED}
FILES = sorted([*JSON_FILES, *LINE_FILES, layout.LEAVES, layout.CHECKPOINT, layout.PREVIOUS_CHECKPOINT])

SETTINGS = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value, the value itself included."""
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*path, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@st.composite
def contents(draw: st.DrawFn, genuine: bytes) -> bytes:
    """Arbitrary content, or the genuine content changed a little."""
    kind = draw(st.sampled_from(["bytes", "json", "byte", "cut", "line", "value"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return _dumps(draw(json_values))
    if kind == "byte" and genuine:
        i = draw(st.integers(0, len(genuine) - 1))
        return genuine[:i] + bytes([draw(st.integers(0, 255))]) + genuine[i + 1:]
    if kind == "cut" and genuine:
        return genuine[:draw(st.integers(0, len(genuine) - 1))]
    lines = genuine.splitlines(keepends=True)
    if kind == "line" and lines:
        i = draw(st.integers(0, len(lines) - 1))
        return b"".join([*lines[:i + 1], lines[i], *lines[i + 1:]])
    try:
        docs = [json.loads(line) for line in lines]
    except ValueError:
        return draw(st.binary(max_size=300))
    if not docs:
        return _dumps(draw(json_values))
    i = draw(st.integers(0, len(docs) - 1))
    path = draw(st.sampled_from(_paths(docs[i])))
    docs[i] = _replace(docs[i], path, draw(json_values))
    return b"".join(_dumps(d) for d in docs)


def _same(name: str, got: bytes, genuine: bytes) -> bool:
    """Whether `got` says what the genuine file says: the same bytes, the same JSON, or for a signed
    note the same signed text (a note may carry other signatures, which the verifier skips)."""
    if got == genuine:
        return True
    if name in {layout.CHECKPOINT, layout.PREVIOUS_CHECKPOINT}:
        return got.split(b"\n\n")[0] == genuine.split(b"\n\n")[0]
    try:
        if name in JSON_FILES:
            return bool(json.loads(got) == json.loads(genuine))
        if name in LINE_FILES:
            return [json.loads(x) for x in got.splitlines()] == [json.loads(x) for x in genuine.splitlines()]
    except (ValueError, RecursionError):
        return False
    return False


@pytest.fixture(scope="module")
def scratch(settled_bundles: Settled, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of February's bundle; each example changes one file and puts it back."""
    bundle = tmp_path_factory.mktemp("property") / "bundle"
    shutil.copytree(settled_bundles.feb, bundle)
    return bundle


@pytest.mark.parametrize("name", FILES)
def test_any_bundle_file_fails_cleanly_or_is_genuine(settled_bundles: Settled, scratch: Path, name: str) -> None:
    genuine = (settled_bundles.feb / name).read_bytes()
    key = settled_bundles.vkey.read_text().strip()

    @SETTINGS
    @given(data=contents(genuine))
    def check(data: bytes) -> None:
        (scratch / name).write_bytes(data)
        try:
            verify_bundle(scratch, key)
        except StatementVerifyError as exc:
            assert "\n" not in str(exc), str(exc)
        else:  # terms.json is bound through the figures it gives: a change that gives the same ones verifies
            assert name == layout.TERMS or _same(name, data, genuine), f"{name}: verified OK with {data[:200]!r}"
        finally:
            (scratch / name).write_bytes(genuine)

    check()


def _receipt(settled: Settled) -> Receipt:
    """Leaf 5 of google's log (February's carried leaf) proven at size 9."""
    carried = layout.CarriedLeaf.parse((settled.feb / layout.CARRIED).read_bytes(), 1)
    return Receipt(json.loads(carried.data), carried.index, carried.proof,
                   (settled.feb / layout.CHECKPOINT).read_text())


@pytest.mark.parametrize("form", ["json", "tlog-proof"])
def test_any_receipt_fails_cleanly_or_is_genuine(settled_bundles: Settled, form: str) -> None:
    receipt = _receipt(settled_bundles)
    genuine = (receipt.to_json() if form == "json" else receipt.to_tlog_proof()).encode()
    key = settled_bundles.vkey.read_text().strip()
    assert verify_receipt_text(genuine.decode(), key).verified.index == 5

    @settings(SETTINGS, max_examples=150)
    @given(data=contents(genuine))
    def check(data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        try:
            verdict = verify_receipt_text(text, key)
        except TlogError as exc:
            assert "\n" not in str(exc), str(exc)
        else:
            assert (verdict.record, verdict.verified.index) == (receipt.record, receipt.index), text

    check()


def test_any_checkpoint_fails_cleanly_or_is_genuine(settled_bundles: Settled) -> None:
    old = (settled_bundles.feb / layout.PREVIOUS_CHECKPOINT).read_text()
    new = (settled_bundles.feb / layout.CHECKPOINT).read_text()
    proof = layout.ConsistencyFile.parse((settled_bundles.feb / layout.CONSISTENCY).read_bytes()).proof
    key = settled_bundles.vkey.read_text().strip()
    genuine = open_checkpoint(new, key)

    @settings(SETTINGS, max_examples=150)
    @given(data=contents(new.encode()), which=st.sampled_from(["alone", "new", "old"]))
    def check(data: bytes, which: str) -> None:
        text = data.decode("utf-8", "replace")
        try:
            if which == "alone":
                got = open_checkpoint(text, key)
            else:
                got = verify_extension(old if which == "new" else text, text if which == "new" else new, proof, key)
        except TlogError as exc:
            assert "\n" not in str(exc), str(exc)
        else:
            assert (got.origin, got.size, got.root_hash) == (genuine.origin, genuine.size, genuine.root_hash)

    check()


@pytest.mark.parametrize("command", ["receipt", "checkpoint", "leaves", "proof"])
def test_the_cli_answers_any_file_with_one_line(settled_bundles: Settled, tmp_path: Path, command: str) -> None:
    key, checkpoint = str(settled_bundles.vkey), str(settled_bundles.feb / layout.CHECKPOINT)
    target = tmp_path / "input"
    args = {"receipt": ["receipt", str(target), "--key", key],
            "checkpoint": ["checkpoint", str(target), "--key", key],
            "leaves": ["leaves", str(target), "--checkpoint", checkpoint, "--key", key],
            "proof": ["checkpoint", checkpoint, "--key", key, "--previous",
                      str(settled_bundles.feb / layout.PREVIOUS_CHECKPOINT), "--proof", str(target)]}[command]
    genuine = {"receipt": _receipt(settled_bundles).to_json().encode(),
               "checkpoint": (settled_bundles.feb / layout.CHECKPOINT).read_bytes(),
               "leaves": b'{"start": 0, "leaves": []}\n',
               "proof": (settled_bundles.feb / layout.CONSISTENCY).read_bytes()}[command]
    runner = CliRunner()

    @settings(SETTINGS, max_examples=30)
    @given(data=contents(genuine) | st.text(max_size=200).map(str.encode))
    def check(data: bytes) -> None:
        target.write_bytes(data)
        result = runner.invoke(app, ["verify", *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        if result.exit_code != 0:
            assert result.exit_code == 1 and result.stdout == "", result.output
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert "Traceback" not in result.stderr

    check()


def test_base64_of_the_helpers_is_what_the_bundle_holds(settled_bundles: Settled) -> None:
    """The receipt built above is the carried leaf's own: the property tests start from something genuine."""
    receipt = _receipt(settled_bundles)
    line = json.loads((settled_bundles.feb / layout.CARRIED).read_bytes())
    assert [base64.b64encode(h).decode() for h in receipt.proof] == line["proof"]


@st.composite
def signed_changes(draw: st.DrawFn, genuine: Any) -> Any:
    """The genuine statement with one value replaced by arbitrary JSON that RFC 8785 can sign."""
    signable = st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8)
    path = draw(st.sampled_from([p for p in _paths(genuine) if p]))
    return _replace(genuine, path, draw(signable))


def test_any_statement_the_host_signs_fails_cleanly_or_is_genuine(settled_bundles: Settled, scratch: Path) -> None:
    """A hostile host signs what it likes: past step (0), every field is read with the same care."""
    import hashlib

    import rfc8785

    name = f"{ST}.json"
    genuine_statement, genuine_sig = (scratch / name).read_bytes(), (scratch / f"{ST}.sig").read_bytes()
    genuine = json.loads(genuine_statement)
    key = settled_bundles.vkey.read_text().strip()

    @settings(SETTINGS, max_examples=80)
    @given(statement=signed_changes(genuine))
    def check(statement: Any) -> None:
        body = rfc8785.dumps(statement)
        sig = dict(json.loads(genuine_sig), signature=settled_bundles.key.sign_json(statement),
                   sha256=hashlib.sha256(body).hexdigest())
        (scratch / name).write_bytes(body + b"\n")
        (scratch / f"{ST}.sig").write_bytes(rfc8785.dumps(sig) + b"\n")
        try:
            verify_bundle(scratch, key)
        except StatementVerifyError as exc:
            assert "\n" not in str(exc), str(exc)
        else:
            assert statement == genuine, f"verified OK: {statement}"
        finally:
            (scratch / name).write_bytes(genuine_statement)
            (scratch / f"{ST}.sig").write_bytes(genuine_sig)

    check()


def test_any_leaf_the_host_logs_and_signs_fails_cleanly_or_is_genuine(settled_bundles: Settled,
                                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    """A hostile host logs a leaf that is not a projection and signs the tree: the root holds, step (4) refuses it."""
    from revshare.verify.scan import parse_leaf
    from tests.support.settled_bundles import feb_leaves, resign_leaves

    bundle = tmp_path_factory.mktemp("leaf-property") / "bundle"
    key = settled_bundles.vkey.read_text().strip()
    genuine = feb_leaves(settled_bundles)
    line = st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                     contents(genuine[1])).map(lambda b: b.replace(b"\n", b" "))

    @settings(SETTINGS, max_examples=40)
    @given(leaf=line, where=st.integers(0, len(genuine) - 1))
    def check(leaf: bytes, where: int) -> None:
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.copytree(settled_bundles.feb, bundle)
        leaves = list(genuine)
        leaves[where] = leaf
        resign_leaves(bundle, settled_bundles, leaves)
        try:
            verify_bundle(bundle, key)
        except StatementVerifyError as exc:
            assert "\n" not in str(exc), str(exc)
        else:  # the host may log what it likes, if it is a projection and the statement follows from it
            assert leaf == genuine[where] or parse_leaf(leaf, 6 + where, "", ""), leaf

    check()
