"""Builders for the verifier's tests: a ledger settled over two months, its bundles, and a hostile host's edits.

    two_months(env) -> (jan, feb)          January and February settled and exported for google
    settle_two_months(tmp) -> Settled      the same in a fresh SQLite ledger, with the host's signing key
    resign_statement, resign_leaves        the host changes its statement or its leaves and signs again
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from typer.testing import CliRunner

from revshare.cli import app
from revshare.ledger.store import Ledger
from revshare.records.record import Outcome
from revshare.tlog import Checkpoint, HostKey, MemoryStore, MerkleTree, hash_leaf
from tests.support.statement_bundles import at, catalog_toml, rec

runner = CliRunner()
ST = "statement-google-google-gemma-2026-02"


@dataclass
class Env:
    ledger: Ledger
    config: Path
    tmp: Path

    def run(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--config", str(self.config)]
                               if args[0] != "verify" else list(args))
        return result.exit_code, result.output

    def ok(self, *args: str) -> str:
        code, out = self.run(*args)
        assert code == 0, out
        return out


def two_months(e: Env) -> tuple[Path, Path]:
    """January and February settled and exported for google; returns the two bundles."""
    e.ledger.append_now([rec("acme", at(1, 3), 2_000_000, 500_000), rec("demo", at(1, 17), 1_000_000, 250_000),
                         rec("acme", at(1, 9), 5_000_000, 0, outcome=Outcome.ENGINE_ERROR),
                         rec("acme", at(1, 5), 3_000_000, 0, model="llama-3-8b"),
                         rec("internal", at(1, 6), 4_000_000, 0),
                         rec("demo", at(1, 8), 1_000_000, 1_000_000, model="gemma-ft")])
    e.ledger.append_now([rec("acme", at(2, 1, 0), 1_000_000, 0)])  # February, appended before January's close
    assert "checkpoint test-host/revshare/google: size 6" in e.ok("period", "close", "2026-01")
    e.ledger.append_now([rec("acme", at(1, 20), 1_000_000, 0),  # late January usage
                         rec("acme", at(2, 10), 4_000_000, 1_000_000), rec("internal", at(2, 20), 2_000_000, 0),
                         rec("demo", at(2, 21), 1_000_000, 0, model="llama-3-8b")])
    e.ok("credit", "--customer", "acme", "--amount", "0.30", "--reason", "outage", "--kind", "refund")
    e.ok("period", "close", "2026-02")
    e.ledger.append_now([rec("acme", at(2, 27), 9_000_000, 0)])  # after February's close: March's
    e.ok("settle", "--period", "2026-01", "--out", str(e.tmp / "jan"))
    e.ok("settle", "--period", "2026-02", "--out", str(e.tmp / "feb"))
    jan, feb = e.tmp / "jan-bundle", e.tmp / "feb-bundle"
    e.ok("export", "statement-bundle", "--period", "2026-01", "--licensor", "google", "--out", str(jan))
    e.ok("export", "statement-bundle", "--period", "2026-02", "--licensor", "google", "--out", str(feb))
    return jan, feb


@dataclass(frozen=True)
class Settled:
    """jan, feb: the two bundles; key: the host's signing key; vkey: a copy of its verifier key
    outside both bundles (the key a licensor holds); export_output: what the last export printed."""

    jan: Path
    feb: Path
    key: HostKey
    vkey: Path
    export_output: str


def settle_two_months(tmp: Path) -> Settled:
    """A fresh SQLite ledger under `tmp`, two months settled and exported (and February exported again)."""
    config = tmp / "revshare.toml"
    config.write_text(catalog_toml(f"sqlite:///{tmp / 'ledger.db'}", tmp / "data"))
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
    ledger.migrate()
    env = Env(ledger, config, tmp)
    jan, feb = two_months(env)
    export_output = env.ok("export", "statement-bundle", "--period", "2026-02", "--licensor", "google",
                           "--out", str(tmp / "again"))
    ledger.close()
    vkey = tmp / "held.vkey"
    vkey.write_bytes((feb / "host.vkey").read_bytes())
    return Settled(jan, feb, HostKey.load(tmp / "data" / "log.key"), vkey, export_output)


def load(path: Path) -> Any:
    return json.loads(path.read_bytes())


def edit(path: Path, change: Callable[[Any], object]) -> None:
    data = load(path)
    change(data)
    path.write_bytes(rfc8785.dumps(data) + b"\n")


def resign_statement(bundle: Path, settled: Settled, change: Callable[[dict[str, Any]], object]) -> None:
    """The host changes its statement and signs it again."""
    edit(bundle / f"{ST}.json", change)
    statement = load(bundle / f"{ST}.json")
    edit(bundle / f"{ST}.sig", lambda s: s.update(signature=settled.key.sign_json(statement),
                                                  sha256=hashlib.sha256(rfc8785.dumps(statement)).hexdigest()))


def resign_leaves(bundle: Path, settled: Settled, leaves: list[bytes]) -> None:
    """The host logs `leaves` as leaves 6.. in place of February's and signs everything again: the
    checkpoint, the consistency and carried proofs and the statement's root all agree with them."""
    all_leaves = (settled.jan / "leaves.jsonl").read_bytes().splitlines() + leaves
    tree = MerkleTree(MemoryStore())
    tree.append_many(hash_leaf(x) for x in all_leaves)
    n = len(all_leaves)
    origin = load(bundle / f"{ST}.json")["log"]["origin"]
    (bundle / "checkpoint").write_text(settled.key.sign_note(Checkpoint(origin, n, tree.root(n)).to_text()))
    (bundle / "leaves.jsonl").write_bytes(b"".join(line + b"\n" for line in leaves))
    b64 = [base64.b64encode(h).decode() for h in tree.consistency_proof(6, n)]
    edit(bundle / "consistency.json", lambda p: p.update(new=n, proof=b64))
    edit(bundle / "carried.jsonl", lambda c: c.update(proof=[base64.b64encode(h).decode()
                                                             for h in tree.inclusion_proof(c["index"], n)]))
    resign_statement(bundle, settled, lambda s: s["log"].update(root=tree.root(n).hex(), size=n, last_index=n - 1))


def feb_leaves(settled: Settled) -> list[bytes]:
    return (settled.feb / "leaves.jsonl").read_bytes().splitlines()


def with_leaf(settled: Settled, i: int, change: Callable[[bytes], bytes]) -> list[bytes]:
    leaves = feb_leaves(settled)
    leaves[i] = change(leaves[i])
    return leaves


