"""`revshare canary`: a licensor's canary audit: it samples the host as a customer would, and holds its
statement to what it saw (issue 13's "audit canary"; `revshare audit` already lists the accounts' audit trail).

    revshare canary run     send N small requests over a period with a customer key; keep the receipts
    revshare canary check   at statement time: each canary in the statement, counted; its receipts and the
                            checkpoints seen are the statement's log; exit 1 naming any canary missing

Imports only `revshare.verify` and the CLI basics, like `revshare verify`: the base install runs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from revshare.cli._common import app, err, fail, labelled, out
from revshare.cli.verify import PolicyOption, _policy, _vkey
from revshare.verify.errors import one_line

canary_app = typer.Typer(help="A licensor's canary audit: requests sent as a customer, which the host must log "
                              "and its statement count.", no_args_is_help=True)
app.add_typer(canary_app, name="canary")

FolderOption = Annotated[Path, typer.Option("--dir", help="The folder that keeps the canaries and their receipts.")]


@canary_app.command("run")
def canary_run(
    base_url: Annotated[str, typer.Option(help="The host's OpenAI-compatible base URL, e.g. https://gw.example/v1.")],
    model: Annotated[str, typer.Option(help="A model of yours on the host (its requests go to your log).")],
    log: Annotated[str, typer.Option("--log", help="Your log: your licensor id.")],
    folder: FolderOption,
    count: Annotated[int, typer.Option(min=1, max=10_000, help="How many requests.")] = 10,
    over: Annotated[float, typer.Option(min=0, help="Seconds from the first request to the last, spread evenly.")]
    = 0.0,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to keep asking for receipts not yet integrated.")]
    = 60.0,
    key_env: Annotated[str, typer.Option(help="The environment variable holding the customer API key.")]
    = "REVSHARE_CANARY_KEY",
) -> None:
    """Send canary requests as a customer and keep the host's receipts (in --dir, appended to).

    Example: REVSHARE_CANARY_KEY=rsk_... revshare canary run --base-url https://gw.example/v1
    --model gemma-3-270m --log google --count 20 --over 86400 --dir canaries/
    """
    from revshare.verify.canary_run import run_canaries

    key = os.environ.get(key_env)
    if not key:
        fail(f"set {key_env} to the customer API key the canaries are sent with")
    if not base_url.startswith(("http://", "https://")):
        fail(f"--base-url {base_url!r}: want an http(s) URL such as https://gw.example/v1")
    try:
        done = run_canaries(base_url, key, model=model, log=log, count=count, over_s=over, folder=folder,
                            wait_s=wait)
    except OSError as exc:
        fail(f"cannot keep the canaries in {folder}: {exc}")
    for canary in done.canaries:
        if not canary.answered:
            err.print(labelled("warning:", "bold yellow", one_line(
                f"canary {canary.n}: HTTP {canary.status}: {canary.error}")), soft_wrap=True)
    answered = sum(c.answered for c in done.canaries)
    out.print(one_line(f"sent {len(done.canaries)} canaries to {base_url}: {answered} served with a record id, "
                       f"{done.receipts} receipts kept in {folder}"))


@canary_app.command("check")
def canary_check(
    folder: FolderOption,
    bundle: Annotated[Path, typer.Option(help="The statement bundle (revshare export statement-bundle).")],
    key: Annotated[str, typer.Option("--key", help="The host's verifier key you hold (vkey text or file).")],
    previous_bundle: Annotated[Path | None, typer.Option(
        help="Your copy of the previous period's bundle: the statement must extend it.")] = None,
    policy: PolicyOption = None,
) -> None:
    """Check the canaries against a statement: the bundle verifies, each canary sent in the period is a
    leaf of it (counted in its figures), and every receipt and checkpoint seen is its log. Exit 1 naming
    each canary MISSING, FORKED or BAD.

    Example: revshare canary check --dir canaries/ --bundle feb/ --key host.vkey
    """
    from revshare.verify import StatementVerifyError
    from revshare.verify.canary import CanaryError, check_canaries

    if not bundle.is_dir():
        fail(f"{bundle} is not a directory (a bundle from revshare export statement-bundle)")
    if not folder.is_dir():
        fail(f"{folder} is not a directory (the --dir of revshare canary run)")
    vkey, held = _vkey(key), _policy(policy)
    try:
        report = check_canaries(folder, bundle, vkey, previous=previous_bundle, policy=held)
    except StatementVerifyError as exc:
        fail(one_line(f"the statement bundle {bundle} does not verify: {exc}"))
    except CanaryError as exc:
        fail(one_line(str(exc)))
    for finding in report.findings:
        if finding.failed:
            err.print(labelled("FAIL", "bold red", finding.line()), soft_wrap=True)
        else:
            out.print(finding.line())
    if report.failed:
        fail(f"{len(report.failed)} of the canaries' checks failed against {report.origin} "
             f"leaves [{report.start}, {report.end})")
    out.print(one_line(f"OK: every canary is accounted for in {report.origin} leaves [{report.start}, {report.end})"))
