"""`revshare verify`: what a licensor or a customer runs offline on files the host gave them.

Imports only `revshare.verify`, `revshare.tlog` and the CLI basics, so it runs with the base
install (`pip install revshare`): no web server, database driver or engine. On success it
prints a verdict; on any failure it exits 1 naming the check that failed.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from revshare.cli._common import app, err, fail, labelled, out
from revshare.tlog import TlogError
from revshare.verify import StatementVerifyError, verify_bundle, verify_extension, verify_leaves, verify_receipt_text
from revshare.verify.log import open_checkpoint

verify_app = typer.Typer(help="Verify receipts, checkpoints, leaves and statements offline against the host's key.",
                         no_args_is_help=True)
app.add_typer(verify_app, name="verify")

KeyOption = Annotated[str, typer.Option("--key", help="The host's verifier key (vkey text), or a file holding it.")]


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the {what} {path}: {exc}")


def _vkey(value: str) -> str:
    path = Path(value)
    if "+" not in value or (path.exists() and path.is_file()):
        return _read(path, "verifier key").strip()
    return value.strip()


def _failed(what: str, exc: Exception) -> None:
    err.print(labelled("FAILED", "bold red", f"{what}: {type(exc).__name__}: {exc}"), soft_wrap=True)
    raise typer.Exit(1)


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(_read(path, what))
    except ValueError as exc:
        fail(f"{path} is not JSON: {exc}")


@verify_app.command("receipt")
def verify_receipt(
    file: Annotated[Path, typer.Argument(help="The receipt: JSON (GET /v1/receipts/ID) or C2SP tlog-proof text.")],
    key: KeyOption,
    origin: Annotated[str | None, typer.Option(help="Require this log origin.")] = None,
    record_id: Annotated[str | None, typer.Option(help="Require the receipt to prove this record.")] = None,
) -> None:
    """Check a receipt offline: signed checkpoint, leaf recomputed from the record, inclusion proof.

    Example: revshare verify receipt receipt.json --key host.vkey
    """
    text = _read(file, "receipt")
    try:
        verdict = verify_receipt_text(text, _vkey(key), origin=origin, record_id=record_id)
    except TlogError as exc:
        _failed(f"receipt {file}", exc)
    out.print(f"OK: receipt {file} verifies")
    for line in verdict.lines():
        out.print(f"  {line}")


def _proof(path: Path) -> list[bytes]:
    data = _json(path, "proof")
    hashes = data.get("proof") if isinstance(data, dict) else data
    if not isinstance(hashes, list):
        fail(f"{path}: want {{\"proof\": [base64, ...]}} as GET /v1/log/LOG/proof/consistency returns")
    try:
        return [base64.b64decode(h, validate=True) for h in hashes]
    except (binascii.Error, TypeError, ValueError) as exc:
        fail(f"{path}: a proof hash is not base64: {exc}")


@verify_app.command("checkpoint")
def verify_checkpoint(
    file: Annotated[Path, typer.Argument(help="The signed checkpoint note.")],
    key: KeyOption,
    previous: Annotated[Path | None, typer.Option(help="An older signed checkpoint this one must extend.")] = None,
    proof: Annotated[Path | None, typer.Option(help="Consistency proof JSON from --previous to FILE.")] = None,
    origin: Annotated[str | None, typer.Option(help="Require this log origin.")] = None,
) -> None:
    """Check a checkpoint's signature, and that it extends an older one (consistency proof).

    Example: revshare verify checkpoint new.checkpoint --key host.vkey --previous old.checkpoint --proof proof.json
    """
    note = _read(file, "checkpoint")
    try:
        checkpoint = open_checkpoint(note, _vkey(key), origin)
        if previous is not None:
            if proof is None:
                fail("--previous needs --proof (GET /v1/log/LOG/proof/consistency?old=N)")
            checkpoint = verify_extension(_read(previous, "checkpoint"), note, _proof(proof), _vkey(key))
    except TlogError as exc:
        _failed(f"checkpoint {file}", exc)
    out.print(f"OK: {checkpoint.origin} size {checkpoint.size} root {checkpoint.root_hash.hex()}"
              + (f", extends {previous}" if previous is not None else ""))


@verify_app.command("leaves")
def verify_leaves_cmd(
    file: Annotated[Path, typer.Argument(help="Leaves JSON from GET /v1/log/LOG/leaves (from start 0).")],
    checkpoint: Annotated[Path, typer.Option(help="The signed checkpoint the leaves must rebuild.")],
    key: KeyOption,
) -> None:
    """Check that exported leaves 0..n-1 rebuild the root of a signed checkpoint.

    Example: revshare verify leaves google.leaves.json --checkpoint google.checkpoint --key host.vkey
    """
    data = _json(file, "leaves")
    rows = data.get("leaves") if isinstance(data, dict) else None
    if not isinstance(rows, list) or (data.get("start", 0) != 0):
        fail(f"{file}: want {{\"start\": 0, \"leaves\": [{{\"index\", \"seq\", \"data\"}}, ...]}}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("index") != i or not isinstance(row.get("data"), str):
            fail(f"{file}: leaf {i} is missing or out of order")
    try:
        verdict = verify_leaves([row["data"].encode() for row in rows], _read(checkpoint, "checkpoint"), _vkey(key))
    except TlogError as exc:
        _failed(f"leaves {file}", exc)
    cp = verdict.checkpoint
    out.print(f"OK: {len(rows)} leaves rebuild {cp.origin} size {cp.size} root {cp.root_hash.hex()}")


@verify_app.command("statement")
def verify_statement(
    bundle: Annotated[Path, typer.Argument(help="The bundle directory (revshare export statement-bundle).")],
    key: KeyOption,
    previous_bundle: Annotated[Path | None, typer.Option(
        help="Your copy of the previous period's bundle: the statement must extend its checkpoint.")] = None,
) -> None:
    """Check a statement bundle offline: signatures, the leaves against both checkpoints, consistency,
    the leaf range with no gap and no extra, and every figure recomputed from the leaves and the terms.

    Example: revshare verify statement feb/ --key host.vkey --previous-bundle jan/
    """
    from revshare.verify.statement import STEPS

    if not bundle.is_dir():
        fail(f"{bundle} is not a directory (a bundle from revshare export statement-bundle)")
    try:
        verdicts = verify_bundle(bundle, _vkey(key), previous_bundle)
    except StatementVerifyError as exc:
        step = f"step ({exc.step}) {STEPS[exc.step]}" if exc.step >= 0 else "bundle"
        err.print(labelled("FAILED", "bold red", f"{step}: {type(exc).__name__}: {exc}"), soft_wrap=True)
        raise typer.Exit(1) from None
    # Pipes and logs get a width that fits the steps (rich would squeeze them into 80 columns).
    screen = out if out.is_terminal else Console(file=out.file, width=160, highlight=False)
    for v in verdicts:
        table = Table("step", "check", "result", title=f"{v.name}: {v.statement['licensor']} / "
                      f"{v.statement['contract']} {v.statement['period']} no. {v.statement['number']}")
        for s in v.steps:
            table.add_row(f"({s.number})", s.title, f"OK {s.detail}")
        screen.print(table)
        totals = v.statement["totals"]
        out.print(f"OK: {v.name} verifies: amount due {totals['amount_due']} {v.statement['currency']}")
