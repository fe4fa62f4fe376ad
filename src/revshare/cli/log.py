"""`revshare log` and `revshare licensor`: the verifiable log, operated from the host.

Each command is thin: load the catalog and the ledger, call `revshare.logstore.integrator`,
`log_audit` or `tlog_store`, and turn their errors into a message and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from revshare.cli._common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    catalog_or_exit,
    err,
    fail,
    labelled,
    ledger_or_exit,
    out,
)
from revshare.tlog import TlogError

LABEL_MAX = 128  # licensor_tokens.label

log_app = typer.Typer(help="The verifiable log: host key, integration, checkpoints, audit, receipts.",
                      no_args_is_help=True)
app.add_typer(log_app, name="log")
licensor_app = typer.Typer(help="Licensors' access to their logs.", no_args_is_help=True)
app.add_typer(licensor_app, name="licensor")
token_app = typer.Typer(help="Licensor read tokens.", no_args_is_help=True)
licensor_app.add_typer(token_app, name="token")


@log_app.command("key")
def log_key(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Print the host's verifier key (C2SP vkey form); the key is created on first use.

    Example: revshare log key > host.vkey
    """
    from revshare.logstore.identity import load_identity

    try:
        identity = load_identity(catalog_or_exit(config))
    except (OSError, TlogError) as exc:
        fail(f"cannot load the host key: {exc}")
    print(identity.key.verifier_text())


@log_app.command("integrate")
def log_integrate(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Integrate every committed record into its logs and sign a checkpoint per log, then submit the new
    checkpoints to the witnesses the catalog names (one round; a witness that fails is a warning).

    The gateway does this every `[log] interval_s`; run it by hand or at period close.
    Exits 1, signing nothing new, if a checkpoint would not extend the last one signed.

    Example: revshare log integrate
    """
    from revshare.logstore.integrator import IntegrationError, integrate
    from revshare.logstore.witness_client import submit_now

    catalog = catalog_or_exit(config)
    ledger = ledger_or_exit(catalog)
    try:
        checkpoints = integrate(ledger, catalog)
    except (IntegrationError, TlogError, OSError) as exc:
        fail(str(exc))
    for log_id, signed in sorted(checkpoints.items()):
        out.print(f"{log_id}: size {signed.checkpoint.size}, root {signed.checkpoint.root_hash.hex()} "
                  f"({signed.checkpoint.origin})")
    if not checkpoints or not catalog.witnesses:
        return
    for name, status in sorted(submit_now(ledger, catalog, sorted(checkpoints)).items()):
        if status.last_error is not None:
            err.print(labelled("warning:", "bold yellow", f"witness {name}: {status.last_error} "
                                                           "(the gateway submits again)"), soft_wrap=True)
        else:
            out.print(f"witness {name}: {status.cosigned} new cosignature(s) kept")


@log_app.command("checkpoint")
def log_checkpoint(
    log_id: Annotated[str, typer.Argument(help="A licensor id, or _host.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Print a log's newest signed checkpoint (a C2SP signed note).

    Example: revshare log checkpoint google > google.checkpoint
    """
    from revshare.logstore.tree_store import LogReader, LogReadError

    ledger = ledger_or_exit(catalog_or_exit(config))
    try:
        print(LogReader(ledger).latest_checkpoint(log_id), end="")
    except LogReadError as exc:
        fail(str(exc))


@log_app.command("receipt")
def log_receipt(
    record_id: Annotated[str, typer.Argument(help="The record id (the x-revshare-record-id header).")],
    log_id: Annotated[str | None, typer.Option("--log", help="Which of the record's logs [default: the first]")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Print the receipt (JSON) of a record, as GET /v1/receipts/{record_id} returns it.

    Example: revshare log receipt rec_0193... > receipt.json
    """
    from revshare.logstore.identity import log_ids_for
    from revshare.logstore.tree_store import LogReader, LogReadError

    ledger = ledger_or_exit(catalog_or_exit(config))
    rows = ledger.records(record_id=record_id)
    if not rows:
        fail(f"no record {record_id!r} in the ledger")
    record = rows[0]
    chosen = log_id or log_ids_for(record.licensors)[0]
    try:
        print(LogReader(ledger).receipt(chosen, record.seq or 0).to_json())
    except LogReadError as exc:
        fail(f"{exc} (run `revshare log integrate`)")


@log_app.command("audit")
def log_audit(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Check that the ledger still holds exactly what every log signed.

    Recomputes each record's leaf, rebuilds each log from its leaves and compares with every
    signed checkpoint. Exits 1 naming each record edited, deleted, inserted or reordered.

    Example: revshare log audit
    """
    from revshare.logstore.audit import audit

    catalog = catalog_or_exit(config)
    ledger = ledger_or_exit(catalog)
    try:
        findings = audit(ledger, catalog)
    except (OSError, TlogError) as exc:
        fail(f"cannot audit: {exc}")
    for finding in findings:
        err.print(labelled("FAIL", "bold red", str(finding)), soft_wrap=True)
    if findings:
        raise typer.Exit(1)
    out.print("OK: every log matches its signed checkpoints and the ledger")


@token_app.command("create")
def licensor_token_create(
    licensor: Annotated[str, typer.Option(help="The licensor id, as in the catalog.")],
    label: Annotated[str, typer.Option(help="A note to tell tokens apart.")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create a licensor's read token for its log; printed once, as the last line.

    Example: revshare licensor token create --licensor google
    """
    from revshare.logstore.identity import catalog_log_ids
    from revshare.logstore.licensor_tokens import create_token

    catalog = catalog_or_exit(config)
    if licensor not in catalog_log_ids(catalog) or licensor.startswith("_"):
        known = ", ".join(x for x in catalog_log_ids(catalog) if not x.startswith("_")) or "none"
        fail(f"{catalog.source}: no licensor {licensor!r} (known: {known})")
    if len(label) > LABEL_MAX:
        fail(f"a token's label has at most {LABEL_MAX} characters, got {len(label)}")
    token, secret = create_token(ledger_or_exit(catalog), licensor, label)
    out.print(f"created {token.token_id} for licensor {licensor!r}; store the token now, it is not shown again:")
    print(secret)




@log_app.command("export-tiles")
def log_export_tiles(
    log_id: Annotated[str, typer.Option("--log", help="A licensor id, or _host.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The folder a static web server or bucket serves.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Write a log as C2SP tlog-tiles (checkpoint, hash tiles, entry bundles) for a static host.

    Full tiles already in the folder are kept, so running it again writes only what is new.

    Example: revshare log export-tiles --log google --out /srv/tiles/google
    """
    from revshare.logstore.tiles import export_tiles
    from revshare.logstore.tree_store import LogReadError

    ledger = ledger_or_exit(catalog_or_exit(config))
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {out_dir} exists and is not a folder")
    try:
        done = export_tiles(ledger, log_id, out_dir)
    except LogReadError as exc:
        fail(f"{exc} (run `revshare log integrate`)")
    except (OSError, TlogError) as exc:
        fail(f"cannot export the tiles of log {log_id!r} to {out_dir}: {exc}")
    out.print(f"{log_id}: size {done.size}, {done.written} tiles written, {done.kept} full tiles kept, in {out_dir}")
