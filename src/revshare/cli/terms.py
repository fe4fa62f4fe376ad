"""`revshare terms`: the licence terms of the catalog's models, customers' acceptances of them,
and monthly active users per model and licence; suspensions of one customer's access to one
model (docs/LICENSING.md).

Thin, over `revshare.accounts.terms` and `revshare.accounts.users`. An acceptance recorded here
(one given offline, e.g. on a signed order form) is audited as `cli:<user>` via `cli`, is
append-only, and is in force on every running gateway within `server.accounts_refresh_s`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table
from rich.text import Text

from revshare.accounts.errors import AccountError
from revshare.cli._common import DEFAULT_CONFIG, ConfigOption, app, catalog_or_exit, err, fail, out, shown
from revshare.cli.customers import accounts_or_exit, cli_actor, refuse, say, unknown_customer
from revshare.config import Catalog
from revshare.config.catalog import LicenceTerms
from revshare.instants import format_instant, utc_now

if TYPE_CHECKING:  # the store needs the server extras; it is imported when a command runs
    from revshare.accounts.acceptances import Acceptance
    from revshare.accounts.users import MonthlyUsers, Threshold

terms_app = typer.Typer(help="Licence terms of the catalog's models: acceptances and monthly active users.",
                        no_args_is_help=True)
app.add_typer(terms_app, name="terms")

SEQ_MAX = 2**63 - 1
JsonOption = Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")]


def _terms_line(terms: LicenceTerms, catalog: Catalog) -> dict[str, Any]:
    return {"id": terms.id, "name": terms.name, "version": terms.version, "url": terms.url,
            "use_policy_url": terms.use_policy_url, "attribution": terms.attribution or None,
            "acceptance_required": terms.acceptance_required,
            "effective_from": format_instant(terms.effective_from) if terms.effective_from else None,
            "grace_days": terms.grace_days, "mau_thresholds": list(terms.mau_thresholds),
            "models": list(catalog.models_under(terms.id))}


def _acceptance_json(a: Acceptance) -> dict[str, Any]:
    return {"seq": a.seq, "customer": a.customer, "terms_id": a.licence, "version": a.version,
            "accepted_at": format_instant(a.accepted_at), "actor": a.actor, "via": a.via, "note": a.note}


@terms_app.command("list")
def terms_list(
    customer: Annotated[str | None, typer.Option(help="Show where this customer stands with each.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List the catalog's licence terms: version, links, acceptance, grace, thresholds, the models
    they bind; with --customer, whether that customer accepted them (accepted, grace, pending).

    Example: revshare terms list --customer acme
    """
    catalog = catalog_or_exit(config)
    status: dict[str, str] = {}
    if customer is not None:
        from revshare.accounts.terms import acceptances, standings

        accounts = accounts_or_exit(catalog)
        directory = accounts.load()
        account = directory.account(customer)
        if account is None:
            unknown_customer(customer, catalog, directory)
        rows = standings(catalog, account.customer, acceptances(accounts, customer=customer), utc_now())
        status = {s.terms.id: s.standing for s in rows}
    if as_json:
        for terms in catalog.licences:
            line = _terms_line(terms, catalog)
            if customer is not None:
                line["status"] = status.get(terms.id, "not_used")
            print(json.dumps(line))
        return
    headers = ["id", "name", "version", "acceptance", "models", "url"] + (["status"] if customer else [])
    table = Table(*(Column(h, overflow="fold") for h in headers), title=f"{len(catalog.licences)} licence(s)")
    for terms in catalog.licences:
        acceptance = (f"required, {terms.grace_days} days' grace" if terms.acceptance_required and terms.grace_days
                      else "required" if terms.acceptance_required else "not required")
        row: list[Text | str] = [Text(terms.id), Text(terms.name), Text(terms.version), acceptance,
               Text(" ".join(catalog.models_under(terms.id))), Text(terms.url)]
        table.add_row(*row, *([status.get(terms.id, "not used")] if customer else []))
    out.print(table)


@terms_app.command("accept")
def terms_accept(
    terms_id: Annotated[str, typer.Argument(metavar="TERMS_ID", help="A [[licences]] id, e.g. gemma.")],
    customer: Annotated[str, typer.Option(help="The customer that accepted them.")],
    version: Annotated[str | None, typer.Option(help="The version accepted [default: the current one].")] = None,
    note: Annotated[str, typer.Option(help="Where the acceptance is kept, e.g. an order form's reference.")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Record that a customer accepted the current version of a licence's terms (given offline,
    e.g. on a signed order form): append-only and audited; its keys may then call the models.

    Example: revshare terms accept gemma --customer acme --note "order form 2026-114"
    """
    from revshare.accounts.terms import accept

    catalog = catalog_or_exit(config)
    terms = catalog.licence(terms_id)
    if terms is None:
        known = ", ".join(t.id for t in catalog.licences) or "none"
        fail(f"no licence terms {terms_id!r} in {shown(catalog.source)} (known: {known})")
    accounts = accounts_or_exit(catalog)
    if accounts.account(customer) is None:
        unknown_customer(customer, catalog, accounts.load())
    try:
        acceptance, recorded = accept(accounts, catalog, customer, terms_id, version or terms.version, cli_actor(),
                                      note)
    except AccountError as exc:
        if exc.param == "version":
            fail(f"--version (version): {exc.message}")
        if exc.param == "note":
            fail(f"--note (note): {exc.message}")
        refuse(exc, catalog)
    when = format_instant(acceptance.accepted_at, "seconds")
    say(f"recorded: customer {customer!r} accepted {terms.name} version {terms.version} (seq {acceptance.seq})"
        if recorded else f"customer {customer!r} had already accepted {terms.name} version {terms.version} at {when}")


@terms_app.command("acceptances")
def terms_acceptances(
    customer: Annotated[str | None, typer.Option(help="Only this customer's acceptances.")] = None,
    terms_id: Annotated[str | None, typer.Option("--terms", help="Only acceptances of these terms.")] = None,
    after_seq: Annotated[int, typer.Option(help="Only acceptances after this seq.", min=0, max=SEQ_MAX)] = 0,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=SEQ_MAX)] = 100,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List acceptances of licence terms, oldest first: seq, time, customer, terms, version, who
    and how (api, console, cli). The history is append-only.

    Example: revshare terms acceptances --customer acme --json
    """
    from revshare.accounts.terms import acceptances

    accounts = accounts_or_exit(catalog_or_exit(config))
    rows = acceptances(accounts, customer=customer, licence=terms_id, after_seq=after_seq, limit=limit)
    for a in rows:
        if as_json:
            print(json.dumps(_acceptance_json(a)))
        else:
            note = f" ({a.note})" if a.note else ""
            say(shown(f"{a.seq} {format_instant(a.accepted_at)} {a.customer} accepted {a.licence} {a.version}, "
                      f"by {a.actor} via {a.via}{note}"))
    if len(rows) == limit and not as_json:
        err.print(f"(at most {limit} shown: --after-seq {rows[-1].seq} shows the next)")


def _flags(thresholds: tuple[Threshold, ...]) -> str:
    return ", ".join(f"{t.state} {t.users:,} ({t.licence})" for t in thresholds if t.state != "below")


def _users_lines(result: MonthlyUsers) -> list[dict[str, Any]]:
    def threshold(t: Threshold) -> dict[str, Any]:
        return {"terms_id": t.licence, "users": t.users, "state": t.state}

    lines = [{"kind": "model", "month": result.month, "model": m.model, "terms": list(m.licences),
              "end_users": m.end_users, "customers": m.customers, "keys": m.keys, "records": m.records,
              "thresholds": [threshold(t) for t in m.thresholds]} for m in result.models]
    lines += [{"kind": "terms", "month": result.month, "terms_id": t.licence, "models": list(t.models),
               "end_users": t.end_users, "customers": t.customers, "keys": t.keys,
               "thresholds": [threshold(x) for x in t.thresholds]}
              for t in result.licences]
    return lines


@terms_app.command("users")
def terms_users(
    month: Annotated[str | None, typer.Option(metavar="YYYY-MM", help="A UTC month [default: this one].")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Count the month's active users per model and per licence: distinct end users (the request's
    `user`, else the key), customers and API keys with a usage record of the model, and flag the
    licences' mau_thresholds (compared with end users) near (80%) or over.

    Example: revshare terms users --month 2026-11
    """
    from revshare.accounts.users import monthly_users

    catalog = catalog_or_exit(config)
    accounts = accounts_or_exit(catalog)
    try:
        result = monthly_users(accounts.engine, catalog, month or format_instant(utc_now())[:7])
    except ValueError as exc:
        fail(f"--month: {exc}")
    if as_json:
        for line in _users_lines(result):
            print(json.dumps(line))
        return
    table = Table("model", "terms", Column("end users", justify="right"), Column("customers", justify="right"),
                  Column("keys", justify="right"),
                  Column("records", justify="right"), Column("flags", overflow="fold"),
                  title=f"active users, {result.month} (UTC)")
    for m in result.models:
        table.add_row(Text(m.model), Text(" ".join(m.licences)), str(m.end_users), str(m.customers), str(m.keys),
                      str(m.records), _flags(m.thresholds))
    for lic in result.licences:
        table.add_row(Text(f"(all of {lic.licence})"), Text(lic.licence), str(lic.end_users), str(lic.customers),
                      str(lic.keys), "", _flags(lic.thresholds))
    out.print(table)
    for flag in result.flagged:
        err.print(f"warning: {flag.licence}: {flag.state} its threshold of {flag.users:,} monthly active users")


def _suspension_change(action: str, model: str, customer: str, reason: str, config: Any) -> None:
    from revshare.accounts.model_access import lift, suspend

    catalog = catalog_or_exit(config)
    accounts = accounts_or_exit(catalog)
    if accounts.account(customer) is None:
        unknown_customer(customer, catalog, accounts.load())
    try:
        made = (suspend if action == "suspend" else lift)(accounts, catalog, customer, model, reason, cli_actor())
    except AccountError as exc:
        if exc.param == "reason":
            fail(f"--reason (reason): {exc.message}")
        if exc.param == "model":
            fail(f"MODEL: {exc.message}")
        refuse(exc, catalog)
    done = "suspended" if action == "suspend" else "restored (suspension lifted)"
    say(f"recorded: customer {customer!r}'s access to {model!r} {done} (seq {made.seq}); in force on every "
        "gateway within server.accounts_refresh_s")


Reason = Annotated[str, typer.Option(help="The use-policy violation, or why the suspension ends.")]


@terms_app.command("suspend")
def terms_suspend(
    model: Annotated[str, typer.Argument(help="The catalog model id: that model only.")],
    customer: Annotated[str, typer.Option(help="The customer whose access is suspended.")],
    reason: Reason,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Suspend a customer's access to one model for a use-policy violation: its keys get 403
    model_access_suspended on that model until it is lifted. Append-only and audited.

    Example: revshare terms suspend llama-3.3-70b-instruct --customer acme --reason "licensor report 2026-7"
    """
    _suspension_change("suspend", model, customer, reason, config)


@terms_app.command("lift")
def terms_lift(
    model: Annotated[str, typer.Argument(help="The catalog model id.")],
    customer: Annotated[str, typer.Option(help="The customer whose access is restored.")],
    reason: Reason,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Lift the suspension of a customer's access to one model (a row of its own: nothing is erased).

    Example: revshare terms lift llama-3.3-70b-instruct --customer acme --reason "remediated, ticket 88"
    """
    _suspension_change("lift", model, customer, reason, config)


@terms_app.command("suspensions")
def terms_suspensions(
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List suspensions of model access and their liftings, oldest first.

    Example: revshare terms suspensions --customer acme
    """
    from revshare.accounts.model_access import history

    for s in history(accounts_or_exit(catalog_or_exit(config)), customer=customer, model=model):
        line = {"seq": s.seq, "customer": s.customer, "model": s.model, "action": s.action,
                "at": format_instant(s.at), "actor": s.actor, "via": s.via, "reason": s.reason}
        if as_json:
            print(json.dumps(line))
        else:
            say(shown(f"{s.seq} {line['at']} {s.action} {s.customer} / {s.model}, by {s.actor} via {s.via}: "
                      f"{s.reason}"))
