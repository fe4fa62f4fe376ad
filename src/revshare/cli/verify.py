"""`revshare verify`: what a licensor or a customer runs offline on files the host gave them.

Imports only `revshare.verify`, `revshare.tlog` and the CLI basics, so it runs with the base
install (`pip install revshare`): no web server, database driver or engine. On success it
prints a verdict; on any failure it exits 1 with one line on stderr naming the check that failed,
never a traceback. The files named on the command line are read only if they are regular files
of a bounded size (`revshare.verify.files`: a FIFO or a device is refused, not waited on), and
everything quoted from them is printed as it is, one line, never as markup.

`--policy FILE` (receipt, checkpoint, statement) holds the checkpoint to a witness policy, C2SP
tlog-policy: the witnesses the verifier trusts and how many must have cosigned. Short of its quorum
the check fails, naming the quorum and the witnesses whose cosignature is missing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from revshare.cli._common import app, err, fail, labelled, out
from revshare.settlement.bundle_layout import MAX_LEAF
from revshare.tlog import TlogError
from revshare.tlog.policy import MalformedPolicyError, Policy
from revshare.verify import StatementVerifyError, verify_bundle, verify_extension, verify_leaves, verify_receipt_text
from revshare.verify.errors import one_line
from revshare.verify.files import FileRefusedError, read_regular
from revshare.verify.log import open_checkpoint
from revshare.verify.witnessed import check_cosigned, describe, read_policy

verify_app = typer.Typer(help="Verify receipts, checkpoints, leaves and statements offline against the host's key.",
                         no_args_is_help=True)
app.add_typer(verify_app, name="verify")

KeyOption = Annotated[str, typer.Option("--key", help="The host's verifier key (vkey text), or a file holding it: the "
                                                     "key you hold, never one that came with the files.")]

PolicyOption = Annotated[Path | None, typer.Option(
    "--policy", help="Your witness policy (C2SP tlog-policy: witnesses and a quorum): the checkpoint must carry the "
                     "cosignatures its quorum wants.")]

SMALL = 1 << 20
"""The most bytes of a key, a checkpoint, a receipt or a proof file (each is a few kilobytes at most)."""


def _error(message: str) -> NoReturn:
    fail(one_line(message))


def _read(path: Path, what: str, limit: int = SMALL) -> str:
    try:
        return read_regular(path, limit, f"a {what}").decode("utf-8")
    except FileRefusedError as exc:
        _error(f"the {what} {exc}")
    except UnicodeDecodeError as exc:
        _error(f"the {what} {path} is not UTF-8 text: {exc}")


def _vkey(value: str) -> str:
    path = Path(value)
    if "+" not in value or path.is_file():
        return _read(path, "verifier key").strip()
    return value.strip()


def _policy(path: Path | None) -> Policy | None:
    if path is None:
        return None
    try:
        return read_policy(_read(path, "policy"), str(path))
    except MalformedPolicyError as exc:
        _error(f"the policy {path} is not a C2SP tlog-policy: {exc}")


def _failed(what: str, exc: Exception) -> NoReturn:
    err.print(labelled("FAILED", "bold red", one_line(f"{what}: {type(exc).__name__}: {exc}")), soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def _checking(what: str) -> Iterator[None]:
    """A failed check, or anything a hostile file provokes below the checks, as one FAILED line and exit 1."""
    try:
        yield
    except (TlogError, StatementVerifyError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            ArithmeticError, RecursionError) as exc:
        _failed(what, exc)


def _json(path: Path, what: str, limit: int = SMALL) -> Any:
    try:
        return json.loads(_read(path, what, limit))
    except RecursionError:
        _error(f"{path} is not JSON: nested too deep")
    except ValueError as exc:
        _error(f"{path} is not JSON: {exc}")


@verify_app.command("receipt")
def verify_receipt(
    file: Annotated[Path, typer.Argument(help="The receipt: JSON (GET /v1/receipts/ID) or C2SP tlog-proof text.")],
    key: KeyOption,
    origin: Annotated[str | None, typer.Option(help="Require this log origin.")] = None,
    record_id: Annotated[str | None, typer.Option(help="Require the receipt to prove this record.")] = None,
    policy: PolicyOption = None,
) -> None:
    """Check a receipt offline: signed checkpoint, leaf recomputed from the record, inclusion proof
    (and with --policy, the witnesses' cosignatures of its checkpoint).

    Example: revshare verify receipt receipt.json --key host.vkey --policy policy.txt
    """
    text = _read(file, "receipt")
    vkey = _vkey(key)
    held = _policy(policy)
    with _checking(f"receipt {file}"):
        verdict = verify_receipt_text(text, vkey, origin=origin, record_id=record_id, policy=held)
    out.print(one_line(f"OK: receipt {file} verifies"))
    for line in verdict.lines():
        out.print(one_line(f"  {line}"))


def _proof(path: Path) -> list[bytes]:
    data = _json(path, "proof")
    hashes = data.get("proof") if isinstance(data, dict) else data
    if not isinstance(hashes, list):
        _error(f"{path}: want {{\"proof\": [base64, ...]}} as GET /v1/log/LOG/proof/consistency returns")
    try:
        return [base64.b64decode(h, validate=True) for h in hashes]
    except (binascii.Error, TypeError, ValueError) as exc:
        _error(f"{path}: a proof hash is not base64: {exc}")


@verify_app.command("checkpoint")
def verify_checkpoint(
    file: Annotated[Path, typer.Argument(help="The signed checkpoint note.")],
    key: KeyOption,
    previous: Annotated[Path | None, typer.Option(help="An older signed checkpoint this one must extend.")] = None,
    proof: Annotated[Path | None, typer.Option(help="Consistency proof JSON from --previous to FILE.")] = None,
    origin: Annotated[str | None, typer.Option(help="Require this log origin.")] = None,
    policy: PolicyOption = None,
) -> None:
    """Check a checkpoint's signature, that it extends an older one (consistency proof), and with
    --policy, that the witnesses' cosignatures on it meet your policy's quorum.

    Example: revshare verify checkpoint new.checkpoint --key host.vkey --previous old.checkpoint --proof proof.json
    """
    if previous is not None and proof is None:
        fail("--previous needs --proof (GET /v1/log/LOG/proof/consistency?old=N)")
    note, vkey = _read(file, "checkpoint"), _vkey(key)
    older = _read(previous, "checkpoint") if previous is not None else None
    hashes = _proof(proof) if older is not None and proof is not None else []
    held = _policy(policy)
    with _checking(f"checkpoint {file}"):
        checkpoint = open_checkpoint(note, vkey, origin)
        if older is not None:
            checkpoint = verify_extension(older, note, hashes, vkey)
        witnessed = f", {describe(check_cosigned(note, held, vkey, origin=checkpoint.origin), held)}" if held else ""
    out.print(one_line(f"OK: {checkpoint.origin} size {checkpoint.size} root {checkpoint.root_hash.hex()}"
                       + (f", extends {previous}" if previous is not None else "") + witnessed))


@verify_app.command("leaves")
def verify_leaves_cmd(
    file: Annotated[Path, typer.Argument(help="Leaves JSON from GET /v1/log/LOG/leaves (from start 0).")],
    checkpoint: Annotated[Path, typer.Option(help="The signed checkpoint the leaves must rebuild.")],
    key: KeyOption,
) -> None:
    """Check that exported leaves 0..n-1 rebuild the root of a signed checkpoint.

    Example: revshare verify leaves google.leaves.json --checkpoint google.checkpoint --key host.vkey
    """
    note, vkey = _read(checkpoint, "checkpoint"), _vkey(key)
    with _checking(f"leaves {file}"):
        size = open_checkpoint(note, vkey).size  # the signed size bounds the file: a leaf as JSON text, 3 bytes a byte
    data = _json(file, "leaves file", SMALL + size * (3 * MAX_LEAF + 128))
    rows = data.get("leaves") if isinstance(data, dict) else None
    if not isinstance(rows, list) or (data.get("start", 0) != 0):
        _error(f"{file}: want {{\"start\": 0, \"leaves\": [{{\"index\", \"seq\", \"data\"}}, ...]}}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("index") != i or not isinstance(row.get("data"), str):
            _error(f"{file}: leaf {i} is missing or out of order")
    with _checking(f"leaves {file}"):
        verdict = verify_leaves([row["data"].encode() for row in rows], note, vkey)
    cp = verdict.checkpoint
    out.print(one_line(f"OK: {len(rows)} leaves rebuild {cp.origin} size {cp.size} root {cp.root_hash.hex()}"))


@verify_app.command("statement")
def verify_statement(
    bundle: Annotated[Path, typer.Argument(help="The bundle directory (revshare export statement-bundle).")],
    key: KeyOption,
    previous_bundle: Annotated[Path | None, typer.Option(
        help="Your copy of the previous period's bundle: the statement must extend its checkpoint.")] = None,
    policy: PolicyOption = None,
) -> None:
    """Check a statement bundle offline: signatures, the leaves against both checkpoints, consistency,
    the leaf range with no gap and no extra, and every figure recomputed from the leaves and the terms;
    with --policy, the witnesses' cosignatures of its checkpoint against your policy's quorum.

    Example: revshare verify statement feb/ --key host.vkey --previous-bundle jan/ --policy policy.txt
    """
    from revshare.verify.statement import STEPS

    if not bundle.is_dir():
        _error(f"{bundle} is not a directory (a bundle from revshare export statement-bundle)")
    if previous_bundle is not None and not previous_bundle.is_dir():
        _error(f"{previous_bundle} is not a directory (the bundle you kept from the previous period)")
    vkey = _vkey(key)
    held = _policy(policy)
    _warn_if_inside(key, bundle)
    try:
        verdicts = verify_bundle(bundle, vkey, previous_bundle, held)
    except StatementVerifyError as exc:
        step = f"step ({exc.step}) {STEPS[exc.step]}" if exc.step >= 0 else "bundle"
        _failed(step, exc)
    # Pipes and logs get a width that fits the steps (rich would squeeze them into 80 columns). The
    # statement's names are the host's text: printed as they are, never read as markup.
    screen = out if out.is_terminal else Console(file=out.file, width=160, highlight=False, markup=False)
    for v in verdicts:
        table = Table("step", "check", "result", title=one_line(
            f"{v.name}: {v.statement['licensor']} / {v.statement['contract']} {v.statement['period']} "
            f"no. {v.statement['number']}"))
        for s in v.steps:
            table.add_row(f"({s.number})", s.title, one_line(f"OK {s.detail}"))
        screen.print(table)
        totals = v.statement["totals"]
        out.print(one_line(f"OK: {v.name} verifies: amount due {totals['amount_due']} {v.statement['currency']}"))
    history = verdicts[0].acceptances if verdicts else None
    if history is not None:
        out.print(one_line(f"OK: acceptances.json is signed: {len(history.acceptances)} acceptances of "
                           f"{len(history.licences)} licences' terms and {len(history.suspensions)} suspensions "
                           f"through {history.through}"))


def _warn_if_inside(key: str, bundle: Path) -> None:
    """A warning on stderr when the key is a file inside the bundle: the bundle's own key proves nothing."""
    path = Path(key)
    try:
        inside = path.is_file() and path.resolve().is_relative_to(bundle.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a loop of links
        inside = False
    if inside:
        err.print(labelled("warning:", "bold yellow", one_line(
            f"the key {key} is inside the bundle {bundle}: a bundle checked against its own key only agrees with "
            "itself. Verify with the host key you hold (the host prints it with `revshare log key` and hands it "
            "over out of band); verifying anyway.")), soft_wrap=True)


@verify_app.command("tiles")
def verify_tiles_cmd(
    location: Annotated[str, typer.Argument(help="The tiles base: a folder (revshare log export-tiles) or a URL "
                                                 "(https://HOST/v1/log/LOG, or a static host).")],
    key: KeyOption,
    checkpoint: Annotated[Path | None, typer.Option(
        help="A signed checkpoint you hold [default: the one at LOCATION]: the tiles must prove its tree.")] = None,
    previous: Annotated[Path | None, typer.Option(
        help="An older signed checkpoint you hold: the tiles must prove the checkpoint extends it.")] = None,
    leaf: Annotated[list[int] | None, typer.Option(
        help="Read only this leaf (repeatable), proven by an inclusion proof from the tiles; printed as one line.")]
    = None,
    origin: Annotated[str | None, typer.Option(help="Require this log origin.")] = None,
    policy: PolicyOption = None,
    token_env: Annotated[str, typer.Option(
        help="The environment variable holding your licensor token, sent to an http(s) LOCATION.")]
    = "REVSHARE_LICENSOR_TOKEN",
) -> None:
    """Check a log served as C2SP tlog-tiles against its signed checkpoint: every entry bundle rebuilds
    the signed root and every hash tile agrees (or, with --leaf, only those leaves, each with its
    inclusion proof); with --previous, consistency with an older checkpoint; with --policy, the cosignatures.

    Example: revshare verify tiles https://gw.example/v1/log/google --key host.vkey --previous jan.checkpoint
    """
    import os

    from revshare.verify.tiles import open_tiles, prove_leaves, read_checkpoint, verify_extension_from_tiles
    from revshare.verify.tiles import verify_tiles as verify_all

    vkey, held = _vkey(key), _policy(policy)
    older = _read(previous, "checkpoint") if previous is not None else None
    with _checking(f"tiles {location}"):
        fetch = open_tiles(location, os.environ.get(token_env) or None)
        note = _read(checkpoint, "checkpoint") if checkpoint is not None else read_checkpoint(fetch)
        signed = open_checkpoint(note, vkey, origin)
        if older is not None:
            verify_extension_from_tiles(fetch, open_checkpoint(older, vkey, signed.origin), signed)
        witnessed = f", {describe(check_cosigned(note, held, vkey, origin=signed.origin), held)}" if held else ""
        if leaf:
            for index, data in zip(leaf, prove_leaves(fetch, signed, leaf), strict=True):
                print(json.dumps({"index": index, "data": data.decode("utf-8", "replace")}, ensure_ascii=False))
            what = f"{len(leaf)} leaves proven included"
        else:
            verdict = verify_all(fetch, note, vkey)
            what = f"{verdict.tiles} tiles rebuild it"
    out.print(one_line(f"OK: {signed.origin} size {signed.size} root {signed.root_hash.hex()}: {what}"
                       + (f", extends {previous}" if previous is not None else "") + witnessed))
