"""`revshare verify statement` on hostile contents: malformed files, and documents a hostile host signed.

A bundle's unsigned files (terms, proofs, the signature file, the previous statement) can hold
anything; the host can also sign a statement, a checkpoint or leaves that are not in their
format. Each case must fail with one line naming what is wrong (exit 1, never a traceback, never
OK), and text from the files is printed as it is, never read as markup.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revshare.cli import app
from tests.support.settled_bundles import ST, Settled, edit, feb_leaves, resign_leaves, resign_statement, with_leaf

runner = CliRunner()
NESTED = b"[" * 60_000 + b"\n"  # under the smallest file's limit: refused for its depth


def verify(bundle: Path, key: Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["verify", "statement", str(bundle), "--key", str(key)])
    return result.exit_code, result.stdout, result.stderr


Case = Callable[[Path, Settled], object]
CASES: dict[str, tuple[Case, str]] = {
    # files nobody signed
    "terms-nested": (lambda b, s: (b / "terms.json").write_bytes(NESTED), "terms.json is not JSON: nested deeper than"),
    "terms-nan": (lambda b, s: (b / "terms.json").write_bytes(
        (b / "terms.json").read_bytes().replace(b'"share":"0.05"', b'"share":NaN', 1)), "terms.json is not JSON: NaN"),
    "terms-1e999": (lambda b, s: (b / "terms.json").write_bytes(
        (b / "terms.json").read_bytes().replace(b'"host":"test-host"', b'"host":1e999')),
        "terms.json is not JSON: the number 1e999 is not an integer"),
    "terms-share-a-list": (lambda b, s: edit(b / "terms.json", lambda t: t["contracts"][0].update(share=[])),
                           "terms.json: ContractConfig.share: "),
    "terms-not-an-object": (lambda b, s: (b / "terms.json").write_bytes(b"[]\n"), "terms.json: want a JSON object"),
    "border-size-abc": (lambda b, s: edit(b / "border.json", lambda d: d.update(size="abc")),
                        'border.json: "size" must be a non-negative integer, got a string'),
    "border-nested": (lambda b, s: (b / "border.json").write_bytes(NESTED), "border.json is not JSON"),
    "consistency-nested": (lambda b, s: (b / "consistency.json").write_bytes(NESTED), "consistency.json is not JSON"),
    "carried-nested": (lambda b, s: (b / "carried.jsonl").write_bytes(NESTED), "carried.jsonl line 1 is not JSON"),
    "signature-file-nested": (lambda b, s: (b / f"{ST}.sig").write_bytes(NESTED), f"{ST}.sig is not JSON"),
    "signature-a-number": (lambda b, s: edit(b / f"{ST}.sig", lambda d: d.update(signature=5)),
                           f'{ST}.sig: "signature" must be a string'),
    "signature-names-another-statement": (lambda b, s: edit(b / f"{ST}.sig", lambda d: d.update(statement="x.json")),
                                          f'{ST}.sig names "x.json", not {ST}.json'),
    "signature-sha256-of-another-statement": (lambda b, s: edit(b / f"{ST}.sig", lambda d: d.update(sha256="0" * 64)),
                                              f"{ST}.sig: \"sha256\" is not the statement's"),
    "statement-nested": (lambda b, s: (b / f"{ST}.json").write_bytes(NESTED), f"{ST}.json is not JSON"),
    "previous-statement-nested": (lambda b, s: (b / f"{ST}.previous.json").write_bytes(NESTED),
                                  f"{ST}.previous.json is not JSON"),
    "previous-statement-a-list": (lambda b, s: (b / f"{ST}.previous.json").write_bytes(b"[]\n"),
                                  f"{ST}.previous.json: want a JSON object"),
    "carried-seq-not-the-leaf's": (lambda b, s: edit(b / "carried.jsonl", lambda c: c.update(seq=c["seq"] + 1)),
                                   "carried.jsonl line 1 names seq 8, the leaf's seq is 7"),
    "checkpoint-markup-unsigned": (lambda b, s: (b / "checkpoint").write_text(
        "[/x]\n" + (b / "checkpoint").read_text().split("\n", 1)[1]), "checkpoint: InvalidSignatureError"),
    # what a hostile host signed
    "statement-without-period": (lambda b, s: resign_statement(b, s, lambda d: d.pop("period")),
                                 f'{ST}.json: "period" is missing'),
    "statement-period-abc": (lambda b, s: resign_statement(b, s, lambda d: d.update(period="abc")),
                             f'{ST}.json: "period" is not a month YYYY-MM'),
    "statement-log-size-abc": (lambda b, s: resign_statement(b, s, lambda d: d["log"].update(size="abc")),
                               f'{ST}.json: "log": "size" must be a non-negative integer'),
    "statement-log-a-string": (lambda b, s: resign_statement(b, s, lambda d: d.update(log="[/x]")),
                               f'{ST}.json: "log" must be an object'),
    "statement-log-first-index-wrong": (lambda b, s: resign_statement(b, s, lambda d: d["log"].update(first_index=5)),
                                        f"{ST}.json: log.first_index is 5, want 6"),
    "statement-number-a-string": (lambda b, s: resign_statement(b, s, lambda d: d.update(number="2")),
                                  f'{ST}.json: "number" must be a positive integer'),
    "statement-totals-missing": (lambda b, s: resign_statement(b, s, lambda d: d.pop("totals")),
                                 f'{ST}.json: "totals" is missing'),
    "statement-segments-garbage": (lambda b, s: resign_statement(b, s, lambda d: d.update(segments=[1, 2])),
                                   f'{ST}.json: "segments"[0]: want a JSON object'),
    "statement-segment-start-garbage": (lambda b, s: resign_statement(b, s, lambda d: d["segments"][0].update(
        start="[/x]")), "not an ISO 8601 date or datetime: '[/x]'"),
    "statement-contract-markup": (lambda b, s: resign_statement(b, s, lambda d: d.update(contract="[/x][bold]")),
                                  "[/x][bold]"),
    "checkpoint-origin-markup-signed": (lambda b, s: (b / "checkpoint").write_text(s.key.sign_note(
        "[/x][red]\n" + (b / "checkpoint").read_text().split("\n\n")[0].split("\n", 1)[1] + "\n")), "[/x][red]"),
    "leaf-nested": (lambda b, s: resign_leaves(b, s, with_leaf(s, 1, lambda x: b"[" * 30_000 + b"]" * 30_000)),
                    "leaf 7 (leaves.jsonl line 2) is not a usage projection"),
    "leaf-tokens-1e999": (lambda b, s: resign_leaves(b, s, with_leaf(s, 1, lambda x: x.replace(
        b'"prompt_tokens":4000000', b'"prompt_tokens":1e999'))), "leaf 7 (leaves.jsonl line 2) is not a usage projection"),
    "leaf-tokens-nan": (lambda b, s: resign_leaves(b, s, with_leaf(s, 1, lambda x: x.replace(
        b'"prompt_tokens":4000000', b'"prompt_tokens":NaN'))), "leaf 7 (leaves.jsonl line 2) is not a usage projection"),
    "leaf-time-without-zone": (lambda b, s: resign_leaves(b, s, with_leaf(s, 1, lambda x: x.replace(
        b'"started_at":"2026-02-10T12:00:00Z"', b'"started_at":"2026-02-10T12:00:00"'))),
        "leaf 7 (leaves.jsonl line 2) is not a usage projection"),
    "leaf-100-kib": (lambda b, s: resign_leaves(b, s, with_leaf(s, 1, lambda x: x.replace(
        b'"model":"gemma-3-270m"', b'"model":"' + b"m" * 100_000 + b'"'))), "leaves.jsonl line 2 is over"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_file_fails_in_one_line(settled_bundles: Settled, tmp_path: Path, case: str) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(settled_bundles.feb, bundle)
    change, want = CASES[case]
    change(bundle, settled_bundles)
    code, out, err = verify(bundle, settled_bundles.vkey)
    assert code == 1, out + err
    assert "OK" not in out, out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED "), err
    assert want in lines[0], lines[0]


def test_the_leaf_helper_alone_keeps_the_bundle_genuine(settled_bundles: Settled, tmp_path: Path) -> None:
    """resign_leaves with February's own leaves changes nothing: the cases above fail for their leaf only."""
    bundle = tmp_path / "bundle"
    shutil.copytree(settled_bundles.feb, bundle)
    resign_leaves(bundle, settled_bundles, feb_leaves(settled_bundles))
    code, out, err = verify(bundle, settled_bundles.vkey)
    assert code == 0, out + err
