"""The `revshare` command: serve the gateway, manage keys, read usage.

Each command is thin: parse options, call the library, turn its errors into a clear message
and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from revshare.config import Catalog, ConfigError, load_catalog

app = typer.Typer(
    name="revshare",
    help="Meter open-weight model usage exactly once, settle licensors' shares, prove it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Create, list and revoke customers' API keys.", no_args_is_help=True)
config_app = typer.Typer(help="Check a catalog.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The catalog file.", envvar="REVSHARE_CONFIG")
]
DEFAULT_CONFIG = Path("revshare.toml")


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def catalog_or_exit(path: Path) -> Catalog:
    try:
        return load_catalog(path)
    except ConfigError as exc:
        fail(str(exc), 2)


def ledger_or_exit(catalog: Catalog):  # type: ignore[no-untyped-def]
    try:
        from revshare.ledger.store import Ledger, LedgerError
    except ImportError:
        fail("the ledger needs the server extras: pip install 'revshare[server]'")
    ledger = Ledger(catalog.database_url())
    try:
        ledger.migrate()
    except LedgerError as exc:
        fail(str(exc))
    return ledger


@app.command()
def serve(
    config: ConfigOption = DEFAULT_CONFIG,
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: server.host]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: server.port]")] = None,
    demo: Annotated[bool, typer.Option(help="Create a fresh key for the 'demo' customer and print how to call the gateway with it.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Start the OpenAI-compatible gateway.

    Example: revshare serve --config revshare.toml --port 8000
    """
    catalog = catalog_or_exit(config)
    try:
        import uvicorn

        from revshare.api.app import create_app
    except ImportError:
        fail("serving needs the server extras: pip install 'revshare[server,embedded]'")
    host = host or catalog.server.host
    port = port or catalog.server.port
    ledger = ledger_or_exit(catalog)
    admin_token = os.environ.get(catalog.server.admin_token_env) or ""
    generated_admin = not admin_token
    if generated_admin:
        admin_token = "rsa_" + secrets.token_urlsafe(24)
    demo_key = None
    if demo:
        if catalog.customer("demo") is None:
            fail(f"{catalog.source}: --demo needs a customer named 'demo' in [[customers]]")
        ledger.revoke_keys(k.key_id for k in ledger.keys("demo") if k.label == "demo" and k.revoked_at is None)
        _, demo_key = ledger.create_key("demo", label="demo")
    _banner(catalog, host, port, demo_key, admin_token if generated_admin else None)
    uvicorn.run(create_app(catalog, admin_token=admin_token, ledger=ledger), host=host, port=port,
                log_level=log_level, access_log=False)


def _banner(catalog: Catalog, host: str, port: int, demo_key: str | None, admin_token: str | None) -> None:
    base = f"http://{host}:{port}"
    model = catalog.models[0].id if catalog.models else "MODEL"
    out.print(f"[bold]revshare[/] gateway on {base}  (catalog {catalog.source}, ledger {catalog.database_url()})")
    if admin_token:
        out.print(f"admin token for this run (set ${catalog.server.admin_token_env} to fix one): {admin_token}")
    if demo_key:
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 32})
        out.print("\nTry it with curl:\n")
        print(f"curl -s {base}/v1/chat/completions -H 'Authorization: Bearer {demo_key}' "
              f"-H 'Content-Type: application/json' -d '{body}'")
        out.print("\nor with the openai SDK (pip install openai):\n")
        print(f'python -c "from openai import OpenAI; c = OpenAI(base_url=\'{base}/v1\', api_key=\'{demo_key}\'); '
              f"print(c.chat.completions.create(model='{model}', max_tokens=32, "
              f"messages=[{{'role': 'user', 'content': 'Say hello.'}}]).choices[0].message.content)\"")
        out.print("\nThen see what was metered: [bold].venv/bin/revshare usage[/]\n")
    sys.stdout.flush()


@keys_app.command("create")
def keys_create(
    customer: Annotated[str, typer.Option(help="The customer's name in the catalog.")],
    label: Annotated[str, typer.Option(help="A note to tell keys apart.")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create an API key; the key is printed once, as the last line, and only its hash is kept.

    Example: revshare keys create --customer acme --label ci
    """
    catalog = catalog_or_exit(config)
    if catalog.customer(customer) is None:
        known = ", ".join(c.name for c in catalog.customers) or "none"
        fail(f"{catalog.source}: no customer named {customer!r} in [[customers]] (known: {known})")
    key, secret = ledger_or_exit(catalog).create_key(customer, label)
    out.print(f"created {key.key_id} for customer {customer!r}; store the key now, it is not shown again:")
    print(secret)


@keys_app.command("list")
def keys_list(
    customer: Annotated[str | None, typer.Option(help="Only this customer's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List API keys (ids and owners; never the secrets)."""
    rows = ledger_or_exit(catalog_or_exit(config)).keys(customer)
    if as_json:
        for k in rows:
            print(json.dumps({"key_id": k.key_id, "customer": k.customer, "label": k.label,
                              "created_at": k.created_at.isoformat(),
                              "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}))
        return
    table = Table("key id", "customer", "label", "created", "revoked")
    for k in rows:
        table.add_row(k.key_id, k.customer, k.label, f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id, e.g. key_3f2a9c01b2d4.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Revoke a key; a running gateway stops accepting it within seconds."""
    if ledger_or_exit(catalog_or_exit(config)).revoke_keys([key_id]) == 0:
        fail(f"no live key {key_id!r}")
    out.print(f"revoked {key_id}")


@app.command()
def usage(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one record each.")] = False,
    customer: Annotated[str | None, typer.Option(help="Only this customer's records.")] = None,
    after_seq: Annotated[int, typer.Option(help="Only records after this seq.")] = 0,
    limit: Annotated[int | None, typer.Option(help="At most this many records.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List usage records in ledger order.

    Example: revshare usage --json --customer demo
    """
    records = ledger_or_exit(catalog_or_exit(config)).records(customer=customer, after_seq=after_seq, limit=limit)
    if as_json:
        for r in records:
            print(json.dumps(r.to_json()))
        return
    table = Table("seq", "id", "customer", "model", "in", "out", "outcome", "amount", "price version",
                  title=f"{len(records)} usage record(s)")
    for r in records:
        table.add_row(str(r.seq), r.id, r.customer, r.model, str(r.prompt_tokens),
                      str(r.completion_tokens) + ("~" if r.estimated else ""), r.outcome.value,
                      f"{r.amount:f} {r.currency}", r.price_version)
    out.print(table)


@config_app.command("check")
def config_check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate a catalog and summarise it; exit 2 with the file, entry and field if it is bad."""
    catalog = catalog_or_exit(config)
    out.print(f"{catalog.source}: ok: {len(catalog.engines)} engine(s), {len(catalog.models)} model(s), "
              f"{len(catalog.prices)} price version(s), {len(catalog.customers)} customer(s)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
