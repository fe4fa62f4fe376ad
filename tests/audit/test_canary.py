"""`revshare canary`: a licensor's canary requests must be logged and counted in its statement.

The host under test is real (a ledger, `revshare log integrate`, `period close`, `settle` and
`export statement-bundle`); the one that cheats does what a cheating host could: it answers a canary
request but never writes its record (so its log and statement lack that leaf), or it shows the canary a
receipt from another log than the one its statement is cut from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from revshare.cli import app
from revshare.config import parse_catalog
from revshare.ledger.store import Ledger
from revshare.logstore.tree_store import LogReader
from revshare.records.record import UsageRecord
from revshare.tlog import Checkpoint, HostKey, MemoryStore, MerkleTree, Receipt, hash_leaf
from revshare.verify.canary import CANARIES, CHECKPOINTS, Canary, receipt_path
from tests.support.servers import ServerThread, running_gateway, upstream_stub_app
from tests.support.statement_bundles import at, catalog_toml, rec
from tests.support.stub_gateway import stub_catalog_dict

runner = CliRunner()


class Host:
    """A host with January's usage, three canaries among it (or two: `drop` is the canary never logged)."""

    def __init__(self, tmp: Path, drop: int | None) -> None:
        self.tmp, self.config = tmp, tmp / "revshare.toml"
        self.config.write_text(catalog_toml(f"sqlite:///{tmp / 'ledger.db'}", tmp / "data"))
        self.ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
        self.ledger.migrate()
        self.folder = tmp / "canaries"
        (self.folder / "receipts").mkdir(parents=True)
        (self.folder / CHECKPOINTS).mkdir()
        self.ledger.append_now([rec("acme", at(1, 3), 2_000_000, 500_000), rec("acme", at(1, 4), 1_000_000, 0)])
        self.canaries: list[UsageRecord] = [rec("demo", at(1, 10 + k), 20, 1) for k in range(3)]
        for k, canary in enumerate(self.canaries, 1):
            if k != drop:
                self.ledger.append_now([canary])
            self.ok("log", "integrate")
            if k != drop:  # the customer asks for its receipt, as `canary run` does, and keeps it
                receipt = self.ok("log", "receipt", canary.id, "--log", "google")
                receipt_path(self.folder, canary.id).write_text(receipt)
                note = json.loads(receipt)["checkpoint"]
                (self.folder / CHECKPOINTS / f"{k}.checkpoint").write_text(note)
            line = Canary(k, canary.started_at, "google", canary.id, 200).to_line()
            with (self.folder / CANARIES).open("a") as f:
                f.write(line)
        self.ledger.append_now([rec("acme", at(1, 20), 1_000_000, 0), rec("acme", at(2, 2), 1_000_000, 0)])
        self.ok("period", "close", "2026-01")
        self.ok("settle", "--period", "2026-01", "--out", str(tmp / "settled"))
        self.bundle = tmp / "jan"
        self.ok("export", "statement-bundle", "--period", "2026-01", "--licensor", "google", "--out", str(self.bundle))
        self.vkey = tmp / "held.vkey"
        self.vkey.write_text(self.ok("log", "key"))

    def ok(self, *args: str) -> str:
        result = runner.invoke(app, [*args, "--config", str(self.config)])
        assert result.exit_code == 0, result.output
        return result.output

    def check(self) -> tuple[int, str]:
        result = runner.invoke(app, ["canary", "check", "--dir", str(self.folder), "--bundle", str(self.bundle),
                                     "--key", str(self.vkey)])
        return result.exit_code, result.output


@pytest.fixture
def honest(tmp_path: Path) -> Iterator[Host]:
    host = Host(tmp_path, drop=None)
    yield host
    host.ledger.close()


def test_an_honest_hosts_statement_accounts_for_every_canary(honest: Host) -> None:
    code, out = honest.check()
    assert code == 0, out
    for k, canary in enumerate(honest.canaries, 1):
        assert f"OK canary {k} ({canary.id}, sent 2026-01-{9 + k}T12:00:00Z): leaf" in out
    assert out.count("OK checkpoint") == 3 and "OK: every canary is accounted for" in out


def test_a_host_that_drops_a_canary_record_is_named(tmp_path: Path) -> None:
    host = Host(tmp_path, drop=2)
    code, out = host.check()
    dropped = host.canaries[1].id
    assert code == 1, out
    assert f"MISSING canary 2 ({dropped}, sent 2026-01-11T12:00:00Z): sent inside the period" in out
    assert "the host gave no receipt and no leaf of the statement is its record" in out
    assert f"OK canary 1 ({host.canaries[0].id}" in out and f"OK canary 3 ({host.canaries[2].id}" in out
    assert "1 of the canaries' checks failed" in out
    host.ledger.close()


def test_a_receipt_from_a_forked_log_is_named(honest: Host) -> None:
    """The host showed canary 1 a log where an earlier record says something else, and signed it."""
    path = receipt_path(honest.folder, honest.canaries[0].id)
    genuine = Receipt.from_json(path.read_text())
    size = int(genuine.checkpoint.split("\n")[1])
    leaves = [row.data.encode() for row in LogReader(honest.ledger).leaves("google", 0, size)]
    leaves[0] = leaves[0].replace(b'"prompt_tokens":2000000', b'"prompt_tokens":1000', 1)
    tree = MerkleTree(MemoryStore())
    tree.append_many(hash_leaf(x) for x in leaves)
    key = HostKey.load(honest.tmp / "data" / "log.key")
    origin = Checkpoint.from_text(genuine.checkpoint.partition("\n\n")[0] + "\n").origin
    note = key.sign_note(Checkpoint(origin, size, tree.root()).to_text())
    forked = Receipt(genuine.record, genuine.index, tuple(tree.inclusion_proof(genuine.index, size)), note)
    path.write_text(forked.to_json())
    code, out = honest.check()
    assert code == 1, out
    assert f"FORKED canary 1 ({honest.canaries[0].id}" in out and "the host showed another log" in out


def test_check_refuses_what_is_not_a_bundle_or_a_canary_folder(honest: Host) -> None:
    (honest.folder / CANARIES).write_text('{"n": 1}\n')
    code, out = honest.check()
    assert code == 1 and "canaries.jsonl line 1" in out and "Traceback" not in out
    result = runner.invoke(app, ["canary", "check", "--dir", str(honest.folder), "--bundle",
                                 str(honest.tmp / "nope"), "--key", str(honest.vkey)])
    assert result.exit_code == 1 and "is not a directory" in result.output


def test_run_sends_canaries_and_keeps_receipts_that_verify(tmp_path: Path) -> None:
    with ServerThread(upstream_stub_app(tokens=1)) as upstream:
        raw = stub_catalog_dict(upstream.url + "/v1")
        raw["server"]["data_dir"] = str(tmp_path / "data")
        with running_gateway(parse_catalog(raw), f"sqlite:///{tmp_path / 'gw.db'}") as gw:
            folder = tmp_path / "canaries"
            args = ["canary", "run", "--base-url", gw.url + "/v1", "--model", "gemma-3-270m", "--log", "google",
                    "--count", "3", "--dir", str(folder)]
            result = runner.invoke(app, args, env={"REVSHARE_CANARY_KEY": gw.keys["demo"]})
            assert result.exit_code == 0, result.output
            assert "sent 3 canaries" in result.output and "3 served with a record id, 3 receipts kept" in \
                result.output
            missing = runner.invoke(app, args, env={"REVSHARE_CANARY_KEY": ""})
            assert missing.exit_code == 1 and "set REVSHARE_CANARY_KEY" in missing.output
            wrong = runner.invoke(app, [*args[:5], "no-such-model", *args[6:]],
                                  env={"REVSHARE_CANARY_KEY": gw.keys["demo"]})
            assert wrong.exit_code == 0 and "0 served with a record id, 0 receipts kept" in wrong.output
            assert wrong.output.count("HTTP 404") == 3, wrong.output
            vkey = tmp_path / "host.vkey"
            vkey.write_text(httpx.get(gw.url + "/v1/log/vkey").text)
    lines = [json.loads(x) for x in (folder / CANARIES).read_text().splitlines()]
    assert [x["n"] for x in lines] == [1, 2, 3, 4, 5, 6] and all(x["record_id"] for x in lines[:3])
    assert [x["status"] for x in lines[3:]] == [404] * 3
    for row in lines[:3]:
        verified = runner.invoke(app, ["verify", "receipt", str(receipt_path(folder, row["record_id"])),
                                       "--key", str(vkey), "--record-id", row["record_id"]])
        assert verified.exit_code == 0, verified.output
    assert len(list((folder / CHECKPOINTS).iterdir())) >= 1


def test_every_checkpoint_seen_is_held_to_the_statements_log(honest: Host) -> None:
    key = HostKey.load(honest.tmp / "data" / "log.key")
    seen = sorted((honest.folder / CHECKPOINTS).iterdir())[0]
    genuine = Checkpoint.from_text(seen.read_text().partition("\n\n")[0] + "\n")
    other = Checkpoint(genuine.origin, genuine.size, bytes(32))  # the same size, another tree: a split view
    (honest.folder / CHECKPOINTS / "other.checkpoint").write_text(key.sign_note(other.to_text()))
    beyond = Checkpoint(genuine.origin, 10_000, bytes(32))
    (honest.folder / CHECKPOINTS / "later.checkpoint").write_text(key.sign_note(beyond.to_text()))
    code, out = honest.check()
    assert code == 1, out
    assert f"FORKED checkpoint other.checkpoint: checkpoint at size {genuine.size} has root 00" in out
    assert "UNCHECKED checkpoint later.checkpoint: size 10000 is outside the bundles' ranges" in out
