"""`revshare verify receipt|checkpoint|statement --policy`: the witnesses' cosignatures against a licensor's policy.

The policy is C2SP tlog-policy. Short of its quorum a check fails, naming the quorum and the witnesses
whose cosignature is missing; files without cosignatures (as every host wrote them before witnesses)
still verify without a policy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revshare.cli import app
from revshare.settlement import bundle_layout as layout
from revshare.tlog import HostKey, Receipt, UnknownKeyError, leaf_hash
from revshare.tlog.cosignature import WitnessKey
from revshare.tlog.policy import QuorumNotMetError, parse_policy
from revshare.verify import verify_receipt_text
from revshare.verify.witnessed import check_cosigned, missing_witnesses
from tests.support.settled_bundles import Settled
from tests.support.witness import HOST_KEY, NOW, Log

runner = CliRunner()
W = [WitnessKey(f"witness{i}.example/w{i}", bytes([i]) * 32) for i in (1, 2, 3)]


def cosign(note: str, *witnesses: WitnessKey) -> str:
    text = note.partition("\n\n")[0] + "\n"
    return note + "".join(w.cosign(text, NOW).to_line() for w in witnesses)


def write_policy(path: Path, quorum_lines: str, log_key: str | None = HOST_KEY.verifier_text()) -> Path:
    lines = [f"log {log_key}"] if log_key else []
    lines += [f"witness w{i} {w.verifier_text()}" for i, w in enumerate(W, 1)]
    path.write_text("\n".join([*lines, quorum_lines, ""]))
    return path


def verify(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", *map(str, args)])
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "host.vkey").write_text(HOST_KEY.verifier_text() + "\n")
    write_policy(tmp_path / "two-of-three.txt", "group licensors 2 w1 w2 w3\nquorum licensors")
    write_policy(tmp_path / "w2.txt", "quorum w2", log_key=None)  # no log line: the log is the --key
    return tmp_path


def test_a_checkpoint_that_meets_the_quorum_verifies_and_names_its_cosigners(files: Path) -> None:
    (files / "cp").write_text(cosign(Log().append(5).note(), W[0], W[2]))
    code, out = verify("checkpoint", files / "cp", "--key", files / "host.vkey", "--policy", files / "two-of-three.txt")
    assert code == 0, out
    assert "size 5" in out and "cosigned by w1, w3: quorum licensors met" in out


@pytest.mark.parametrize(("policy", "cosigners", "named"), [
    ("two-of-three.txt", [0], "quorum licensors is not met: group licensors needs 2 of w1, w2, w3, has 1 (w1); "
                              "no valid cosignature from w2 (witness2.example/w2+"),
    ("w2.txt", [0, 2], "quorum w2 is not met: witness w2 has not cosigned; no valid cosignature from w2 ("),
    ("w2.txt", [], "(valid cosignatures from: none)"),
], ids=["group-short", "the-one-witness-missing", "no-cosignature-at-all"])
def test_a_checkpoint_short_of_the_quorum_fails_naming_the_quorum_and_the_missing_witnesses(
        files: Path, policy: str, cosigners: list[int], named: str) -> None:
    (files / "cp").write_text(cosign(Log().append(5).note(), *(W[i] for i in cosigners)))
    code, out = verify("checkpoint", files / "cp", "--key", files / "host.vkey", "--policy", files / policy)
    assert code == 1
    assert "FAILED checkpoint" in out and "QuorumNotMetError" in out and named in out, out


def test_a_cosignature_that_does_not_verify_fails_and_a_bad_policy_is_named_by_its_line(files: Path) -> None:
    good = cosign(Log().append(5).note(), W[0], W[1])
    other = Log().append(6).checkpoint().to_text()  # w2 cosigned another checkpoint: its line does not verify
    forged = good.replace(W[1].cosign(good.partition("\n\n")[0] + "\n", NOW).to_line(),
                          W[1].cosign(other, NOW).to_line())
    (files / "cp").write_text(forged)
    code, out = verify("checkpoint", files / "cp", "--key", files / "host.vkey", "--policy", files / "two-of-three.txt")
    assert code == 1 and "InvalidCosignatureError" in out, out
    (files / "bad.txt").write_text("witness w1 " + W[0].verifier_text() + "\nquorum w9\n")
    code, out = verify("checkpoint", files / "cp", "--key", files / "host.vkey", "--policy", files / "bad.txt")
    assert code == 1 and "is not a C2SP tlog-policy: policy line 2: quorum 'w9' is not a witness or group" in out, out


def test_a_checkpoint_with_cosignatures_verifies_without_a_policy_and_one_without_them_as_before(files: Path) -> None:
    log = Log().append(5)
    for name, note in (("plain", log.note()), ("cosigned", cosign(log.note(), *W))):
        (files / name).write_text(note)
        code, out = verify("checkpoint", files / name, "--key", files / "host.vkey")
        assert code == 0 and "cosigned" not in out, out


def test_the_missing_witnesses_are_those_under_the_quorum_through_its_groups() -> None:
    policy = parse_policy("\n".join([*(f"witness w{i} {w.verifier_text()}" for i, w in enumerate(W, 1)),
                                     "group a any w1 w2", "group b all a w3", "quorum b", ""]))
    assert missing_witnesses(policy, {"w2"}) == ["w1", "w3"]
    assert missing_witnesses(policy, set()) == ["w1", "w2", "w3"]


def test_a_receipt_is_held_to_the_policy_in_both_its_forms(files: Path) -> None:
    log = Log()
    log.append_leaves([leaf_hash({"record_id": f"rec-{i}", "seq": i + 1}) for i in range(4)])
    record = {"record_id": "rec-2", "seq": 3}
    made = Receipt(record, 2, tuple(log.tree.inclusion_proof(2, 4)), cosign(log.note(), W[1]))
    (files / "receipt.json").write_text(made.to_json())
    (files / "receipt.tlog-proof").write_text(made.to_tlog_proof())
    for name in ("receipt.json", "receipt.tlog-proof"):
        code, out = verify("receipt", files / name, "--key", files / "host.vkey", "--policy", files / "w2.txt")
        assert code == 0 and "cosigned by w2: quorum w2 met" in out, out
        code, out = verify("receipt", files / name, "--key", files / "host.vkey", "--policy",
                           files / "two-of-three.txt")
        assert code == 1 and "FAILED receipt" in out and "QuorumNotMetError" in out, out
    old = Receipt(record, 2, made.proof, log.note())  # a receipt from before witnesses: verifies as it did
    assert verify_receipt_text(old.to_json(), HOST_KEY.verifier_text()).witnessed is None
    with pytest.raises(QuorumNotMetError):
        verify_receipt_text(old.to_json(), HOST_KEY.verifier_text(), policy=parse_policy(
            (files / "w2.txt").read_text()))


def test_check_cosigned_takes_the_held_key_as_the_log_when_the_policy_names_none(files: Path) -> None:
    policy = parse_policy((files / "w2.txt").read_text())
    note = cosign(Log().append(3).note(), W[1])
    assert sorted(check_cosigned(note, policy, HOST_KEY.verifier_text()).cosignatures) == ["w2"]
    with pytest.raises(UnknownKeyError):
        check_cosigned(note, policy, HostKey("another.example/revshare", bytes(32)).verifier_text())


def statement_policy(tmp_path: Path, settled: Settled) -> Path:
    vkey = settled.vkey.read_text().strip()
    return write_policy(tmp_path / "policy.txt", "group licensors 2 w1 w2 w3\nquorum licensors", log_key=vkey)


def test_a_statement_whose_checkpoint_meets_the_quorum_verifies_and_one_short_of_it_fails_at_step_1(
        settled_bundles: Settled, tmp_path: Path) -> None:
    bundle = tmp_path / "feb"
    shutil.copytree(settled_bundles.feb, bundle)
    note = (bundle / layout.CHECKPOINT).read_text()
    policy = statement_policy(tmp_path, settled_bundles)
    # As exported (the catalog named no witness): verifies without a policy, fails with one.
    code, out = verify("statement", bundle, "--key", settled_bundles.vkey)
    assert code == 0, out
    code, out = verify("statement", bundle, "--key", settled_bundles.vkey, "--policy", policy)
    assert code == 1, out
    assert "FAILED step (1) checkpoint signatures: WitnessPolicyError" in out and "QuorumNotMetError" in out
    assert "quorum licensors is not met" in out and "no valid cosignature from w1" in out
    # Cosigned by two of the three: verifies, and step (1) names them.
    (bundle / layout.CHECKPOINT).write_text(cosign(note, W[0], W[2]))
    code, out = verify("statement", bundle, "--key", settled_bundles.vkey, "--policy", policy)
    assert code == 0, out
    assert "cosigned by w1, w3: quorum licensors met" in out and "OK: statement-google" in out
    code, out = verify("statement", bundle, "--key", settled_bundles.vkey)  # and without a policy
    assert code == 0, out
    # A policy whose log is another key: the checkpoint is not that log's.
    write_policy(tmp_path / "other-log.txt", "quorum w1", log_key=HOST_KEY.verifier_text())
    code, out = verify("statement", bundle, "--key", settled_bundles.vkey, "--policy", tmp_path / "other-log.txt")
    assert code == 1 and "WitnessPolicyError" in out, out
