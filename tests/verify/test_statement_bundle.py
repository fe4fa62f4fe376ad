"""The statement bundle end to end: after records, `period close` and `settle`, the licensor's bundle verifies
with `revshare verify statement`, and a changed byte in the ledger, the leaves, a checkpoint or
the statement makes it fail with a precise message (SQLite; the ledger parts also on PostgreSQL).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import text
from typer.testing import CliRunner

from revshare.cli import app
from revshare.ledger.store import Ledger
from revshare.tlog import Checkpoint, HostKey, MemoryStore, MerkleTree, hash_leaf
from revshare.tlog.compact import perfect_tiles
from tests.support.base_install import run_with_base_install_only
from tests.support.settled_bundles import Env, two_months
from tests.support.statement_bundles import catalog_toml

runner = CliRunner()
@pytest.fixture
def env(ledger_url: str, tmp_path: Path) -> Iterator[Env]:
    config = tmp_path / "revshare.toml"
    config.write_text(catalog_toml(ledger_url, tmp_path / "data"))
    ledger = Ledger(ledger_url)
    ledger.migrate()
    yield Env(ledger, config, tmp_path)
    ledger.close()


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_the_licensor_verifies_two_chained_statements(env: Env) -> None:
    jan, feb = two_months(env)
    stem = "statement-google-google-gemma-2026-02"
    st = load(feb / f"{stem}.json")
    log = st["log"]
    assert (log["previous"]["size"], log["size"], log["carried"]["count"], log["deferred"]["count"]) == (6, 9, 1, 0)
    assert load(jan / "statement-google-google-gemma-2026-01.json")["log"]["deferred"] == log["carried"]
    assert {a["kind"] for a in st["adjustments"]} == {"late_usage", "refund"}
    assert (env.tmp / "feb" / f"{stem}.sig").read_bytes() == (feb / f"{stem}.sig").read_bytes()
    for bundle in (jan, feb):
        code, out = env.run("verify", "statement", str(bundle), "--key", str(bundle / "host.vkey"))
        assert code == 0, out
        assert "OK: statement-google-google-gemma-2026-0" in out and "(5)" in out
    code, out = env.run("verify", "statement", str(feb), "--key", str(feb / "host.vkey"), "--previous-bundle", str(jan))
    assert code == 0 and "chained to the previous statement" in out, out


def _edit_json(path: Path, change: Any) -> Path:
    data = load(path)
    change(data)
    path.write_bytes(rfc8785.dumps(data) + b"\n")
    return path


def _resign(bundle: Path, stem: str, key: HostKey) -> Path:
    st = load(bundle / f"{stem}.json")
    return _edit_json(bundle / f"{stem}.sig", lambda s: s.update(signature=key.sign_json(st),
                                                                 sha256=hashlib.sha256(rfc8785.dumps(st)).hexdigest()))


def b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def _replace_line(path: Path, line: int, old: bytes, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    assert old in lines[line]
    lines[line] = lines[line].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))


FEB = "statement-google-google-gemma-2026-02"
TAMPER: dict[str, tuple[Any, str]] = {
    "statement-total-unsigned": (lambda b, k: _edit_json(b / f"{FEB}.json", lambda s: s["totals"].update(amount_due="9.99")),
                                 "step (0) statement signature: StatementSignatureError"),
    "statement-total-signed-by-another-key": (
        lambda b, k: (_edit_json(b / f"{FEB}.json", lambda s: s["totals"].update(amount_due="9.99")),
                      _resign(b, FEB, HostKey.generate("mallory"))),
        "does not verify under the trusted key"),
    "statement-total-signed-by-the-host": (
        lambda b, k: (_edit_json(b / f"{FEB}.json", lambda s: s["totals"].update(amount_due="9.99")), _resign(b, FEB, k)),
        "step (5) figures: FigureMismatchError: " + FEB + ".json: figure .totals.amount_due: the leaves and terms give "),
    "statement-line-tokens-signed-by-the-host": (
        lambda b, k: (_edit_json(b / f"{FEB}.json", lambda s: s["lines"][0].update(tokens=s["lines"][0]["tokens"] + 1)),
                      _resign(b, FEB, k)),
        "figure .lines[0].tokens"),
    "leaf-token-count": (lambda b, k: _replace_line(b / "leaves.jsonl", 1, b'"prompt_tokens":4000000', b'"prompt_tokens":4000001'),
                         "step (2) leaves rebuild the roots: LeafRootError"),
    "leaf-model": (lambda b, k: _replace_line(b / "leaves.jsonl", 2, b'"model":"gemma-3-270m"', b'"model":"gemma-3-271m"'),
                   "rebuild root"),
    "leaf-removed": (lambda b, k: (b / "leaves.jsonl").write_bytes(b"".join((b / "leaves.jsonl").read_bytes().splitlines(True)[1:])),
                     "leaves.jsonl has 2 leaves; the range [6, 9) has 3 (missing leaves)"),
    "leaf-duplicated": (lambda b, k: (b / "leaves.jsonl").write_bytes((b / "leaves.jsonl").read_bytes() * 2),
                        "(extra leaves)"),
    "leaves-swapped": (lambda b, k: (b / "leaves.jsonl").write_bytes(b"".join(
        (lambda ls: [ls[1], ls[0], *ls[2:]])((b / "leaves.jsonl").read_bytes().splitlines(True)))), "rebuild root"),
    "checkpoint-size": (lambda b, k: (b / "checkpoint").write_text((b / "checkpoint").read_text().replace("\n9\n", "\n10\n", 1)),
                        "step (1) checkpoint signatures: CheckpointBindingError"),
    "checkpoint-signature-byte": (lambda b, k: (b / "checkpoint").write_bytes(
        (lambda d: d[:-6] + bytes([d[-6] ^ 1]) + d[-5:])((b / "checkpoint").read_bytes())), "checkpoint: "),
    "previous-checkpoint-signed-by-another-key": (lambda b, k: (b / "checkpoint.previous").write_text(
        HostKey.generate("test-host/revshare").sign_note((b / "checkpoint.previous").read_text().split("\n\n")[0] + "\n")),
        "step (1) checkpoint signatures"),
    "consistency-proof-hash": (lambda b, k: _edit_json(b / "consistency.json", lambda p: p["proof"].__setitem__(0, "A" * 43 + "=")),
                               "step (3) consistency: ConsistencyError"),
    "border-hash": (lambda b, k: _edit_json(b / "border.json", lambda p: p["hashes"].__setitem__(0, "A" * 43 + "=")),
                    "border.json does not fold to the previous checkpoint's root"),
    "carried-leaf-dropped": (lambda b, k: (b / "carried.jsonl").write_bytes(b""), "carried.jsonl holds 0 leaves; the statement carries 1"),
    "carried-leaf-edited": (lambda b, k: _replace_line(b / "carried.jsonl", 0, b'\\"prompt_tokens\\":1000000', b'\\"prompt_tokens\\":1000009'),
                            "carried leaf 5 (seq 7) is not in the log"),
    "carried-leaf-version-2": (lambda b, k: _replace_line(b / "carried.jsonl", 0, b'\\"v\\":1', b'\\"v\\":2'),
                               'step (4) leaf range: LeafRangeError: ' + FEB + '.json: leaf 5 (carried.jsonl line 1) is not '
                               'a usage projection: version "v": 2, this reader knows "v": 1'),
    "carried-leaf-field-renamed": (lambda b, k: _replace_line(b / "carried.jsonl", 0, b'\\"amount\\":', b'\\"amt\\":'),
                                   "leaf 5 (carried.jsonl line 1) is not a usage projection: fields: missing amount; "
                                   "unknown amt"),
    "terms-share": (lambda b, k: _edit_json(b / "terms.json", lambda t: t["contracts"][1].update(share="0.13")),
                    "step (5) figures"),
    "previous-statement": (lambda b, k: _edit_json(b / f"{FEB}.previous.json", lambda s: s["totals"].update(earned="0.01")),
                           "the statement chains to"),
}


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, HostKey]:
    """One settled ledger (SQLite) for every tamper case: each edits a copy of its bundle."""
    tmp = tmp_path_factory.mktemp("settled")
    config = tmp / "revshare.toml"
    config.write_text(catalog_toml(f"sqlite:///{tmp / 'ledger.db'}", tmp / "data"))
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
    ledger.migrate()
    jan, feb = two_months(Env(ledger, config, tmp))
    ledger.close()
    return jan, feb, HostKey.load(tmp / "data" / "log.key")


@pytest.mark.parametrize("split", [False, True], ids=["one-process", "two-processes"])
@pytest.mark.parametrize("case", sorted(TAMPER))
def test_a_changed_byte_fails_with_a_precise_message(settled: tuple[Path, Path, HostKey], tmp_path: Path,
                                                     case: str, split: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if split:  # the leaf scan forks a child for the second half of the range, however small
        from revshare.verify import scan

        monkeypatch.setattr(scan, "_split", lambda n: True)
    _, feb, key = settled
    bundle = tmp_path / "bundle"
    shutil.copytree(feb, bundle)
    tamper, message = TAMPER[case]
    tamper(bundle, key)
    result = runner.invoke(app, ["verify", "statement", str(bundle), "--key", str(feb / "host.vkey")])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_record_edited_in_the_ledger_is_caught(env: Env) -> None:
    """The ledger changed under issued statements: the audit names it, re-issuing refuses, the licensor's check fails."""
    two_months(env)
    with env.ledger.engine.begin() as conn:  # a January record, after January was settled
        conn.execute(text("UPDATE usage_records SET prompt_tokens = prompt_tokens + 1 WHERE seq = 2"))
    code, out = env.run("log", "audit")
    assert code == 1 and "(seq 2, leaf 1) was edited: prompt_tokens is" in out
    code, out = env.run("export", "statement-bundle", "--period", "2026-01", "--licensor", "google",
                        "--out", str(env.tmp / "again"))
    assert code == 1 and "different documents" in out and "statement-google-google-gemma-2026-01 changed" in out
    with env.ledger.engine.begin() as conn:  # a February leaf rewritten in the log's own table
        conn.execute(text("UPDATE tlog_leaves SET data = replace(data, :old, :new) WHERE log_id = 'google' AND seq = 9"),
                     {"old": '"prompt_tokens":4000000', "new": '"prompt_tokens":3000000'})
    code, out = env.run("log", "audit")
    assert code == 1 and "log google: leaves:" in out
    env.ok("export", "statement-bundle", "--period", "2026-02", "--licensor", "google", "--out", str(env.tmp / "b"))
    code, out = env.run("verify", "statement", str(env.tmp / "b"), "--key", str(env.tmp / "b" / "host.vkey"))
    assert code == 1 and "step (2) leaves rebuild the roots: LeafRootError" in out and "(leaves 6..8)" in out


def test_history_rewritten_and_re_signed_fails_against_the_held_bundle(settled: tuple[Path, Path, HostKey],
                                                                        tmp_path: Path) -> None:
    """The host rewrites a January leaf and re-signs everything: alone, February's bundle is self-consistent;
    against the January bundle the licensor kept, it fails."""
    jan, feb, key = settled
    bundle = tmp_path / "rewritten"
    shutil.copytree(feb, bundle)
    leaves = (jan / "leaves.jsonl").read_bytes().splitlines() + (feb / "leaves.jsonl").read_bytes().splitlines()
    leaves[1] = leaves[1].replace(b'"prompt_tokens":1000000', b'"prompt_tokens":100000')  # demo's January request
    store = MemoryStore()
    tree = MerkleTree(store)
    tree.append_many(hash_leaf(x) for x in leaves)
    tiles = perfect_tiles(0, 6)
    st = load(bundle / f"{FEB}.json")
    origin = st["log"]["origin"]
    (bundle / "checkpoint.previous").write_text(key.sign_note(Checkpoint(origin, 6, tree.root(6)).to_text()))
    (bundle / "checkpoint").write_text(key.sign_note(Checkpoint(origin, 9, tree.root(9)).to_text()))
    _edit_json(bundle / "border.json", lambda b: b.update(hashes=b64([store.get_many(tiles)[k] for k in tiles])))
    _edit_json(bundle / "consistency.json", lambda p: p.update(proof=b64(tree.consistency_proof(6, 9))))
    _edit_json(bundle / "carried.jsonl", lambda c: c.update(proof=b64(tree.inclusion_proof(5, 9))))
    _edit_json(bundle / f"{FEB}.previous.json", lambda p: p["log"].update(root=tree.root(6).hex()))
    previous_hash = hashlib.sha256(rfc8785.dumps(load(bundle / f"{FEB}.previous.json"))).hexdigest()
    _edit_json(bundle / f"{FEB}.json", lambda s: (s.update(previous_hash=previous_hash), s["log"].update(
        root=tree.root(9).hex(), previous={"size": 6, "root": tree.root(6).hex()})))
    _resign(bundle, FEB, key)
    alone = runner.invoke(app, ["verify", "statement", str(bundle), "--key", str(feb / "host.vkey")])
    assert alone.exit_code == 0, alone.output
    held = runner.invoke(app, ["verify", "statement", str(bundle), "--key", str(feb / "host.vkey"),
                               "--previous-bundle", str(jan)])
    assert held.exit_code == 1 and "step (3) consistency: ConsistencyError" in held.output, held.output
    assert "history rewritten: the checkpoint you hold from" in held.output


def test_verify_statement_runs_with_the_base_install_only(settled: tuple[Path, Path, HostKey]) -> None:
    _, feb, _ = settled
    done = run_with_base_install_only(f"""
        from typer.testing import CliRunner
        from revshare.cli import app
        result = CliRunner().invoke(app, ["verify", "statement", {str(feb)!r}, "--key", {str(feb / "host.vkey")!r}])
        assert result.exit_code == 0, result.output
        print("isolated ok")
    """)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "isolated ok" in done.stdout
