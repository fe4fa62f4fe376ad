"""`revshare serve`: the gateway, and the demo banner of `make run`."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import secrets
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from revshare.cli._common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    catalog_or_exit,
    fail,
    labelled,
    ledger_or_exit,
    out,
    shown,
)
from revshare.config import Catalog, ModelConfig

if TYPE_CHECKING:  # the base install (the verifier) has no SQLAlchemy
    from revshare.ledger.store import Ledger


@app.command()
def serve(
    config: ConfigOption = DEFAULT_CONFIG,
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: server.host]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: server.port]", min=1, max=65535)] = None,
    demo: Annotated[
        bool, typer.Option(help="Create a fresh key for the 'demo' customer and print how to call the gateway.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Start the OpenAI-compatible gateway.

    Example: revshare serve --config revshare.toml --port 8000
    """
    catalog = catalog_or_exit(config)
    try:
        import uvicorn

        from revshare.api.app import create_app
        from revshare.api.connections import connection_protocol
    except ImportError:
        fail("serving needs the server extras: pip install 'revshare[server,embedded]'")
    host = host or catalog.server.host
    port = port or catalog.server.port
    busy = _cannot_listen(host, port)  # before the ledger and the model: a clear error in a second
    if busy:
        fail(f"cannot listen on {shown(host)}:{port}: {busy}. Is another gateway (make run?) using it? "
             "Choose another port with --port")
    ledger = ledger_or_exit(catalog)
    admin_token = os.environ.get(catalog.server.admin_token_env) or ""
    generated_admin = not admin_token
    if generated_admin:
        admin_token = "rsa_" + secrets.token_urlsafe(24)
    demo_key = None
    if demo:
        demo_key = _demo_key(catalog, ledger)
    _banner(catalog, ledger.safe_url, host, port, demo_key, admin_token if generated_admin else None)
    uvicorn.run(create_app(catalog, admin_token=admin_token, ledger=ledger), host=host, port=port,
                http=connection_protocol(catalog.server), ws="none",
                timeout_keep_alive=catalog.server.keep_alive_timeout_s,  # type: ignore[arg-type]
                log_level=log_level, access_log=False, log_config=_log_config(uvicorn.config.LOGGING_CONFIG))


def _demo_key(catalog: Catalog, ledger: Ledger) -> str:
    """A fresh key for the customer `demo` (the run's earlier demo keys revoked), audited."""
    from revshare.accounts.errors import AccountError
    from revshare.accounts.store import Accounts, Actor

    accounts = Accounts(ledger)
    accounts.import_catalog(catalog, Actor(catalog.source[-200:] or "catalog", "catalog"))
    if accounts.account("demo") is None:
        fail(f"{catalog.source}: --demo needs a customer named 'demo' in [[customers]]")
    actor = Actor("revshare serve --demo", "serve")
    try:
        for key in ledger.keys("demo"):
            if key.label == "demo" and key.revoked_at is None:
                accounts.revoke_key(key.key_id, actor)
        return accounts.create_key("demo", "demo", None, actor)[1]
    except AccountError as exc:
        fail(exc.message)


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the gateway could not listen on host:port (bound the way uvicorn binds), or None."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot resolve the address ({exc})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _log_config(base: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging, plus revshare's access log (`server.access_log`): its lines as they are,
    one a request, on standard output. uvicorn's own access log stays off: ours replaces it. The
    engines' own lines go where uvicorn's go."""
    config = copy.deepcopy(base)
    config["formatters"]["revshare_access"] = {"format": "%(message)s"}
    config["handlers"]["revshare_access"] = {"class": "revshare.api.access_log.BatchStreamHandler",
                                             "formatter": "revshare_access", "stream": "ext://sys.stdout"}
    config["loggers"]["revshare.access"] = {"handlers": ["revshare_access"], "level": "INFO", "propagate": False}
    # The engines say what they loaded, e.g. the chat format each model uses (docs/CONFIG.md).
    config["loggers"]["revshare.engines"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _about(catalog: Catalog, model: ModelConfig) -> str:
    """One plain line on what the model is, and the max_tokens it runs with."""
    engine = catalog.engine(model.engines[0].id if model.engines else model.engine)  # a routed model: its first
    if engine.kind == "embedded" and engine.model_path is None:
        what = (f"{model.id} is the bundled Gemma 3 270M, a small base model: it continues text, it does not follow "
                "instructions, so give it the start of a sentence (to serve an instruction-tuned GGUF, set model_path: "
                "docs/CONFIG.md)")
    else:
        what = f"{model.id}: {shown(model.description)}" if model.description else model.id
    return (f"{what}. A request without max_tokens runs with max_tokens {model.max_tokens_when_unset}; "
            f"more than {model.most_max_tokens} is refused.")


def _banner(catalog: Catalog, ledger_url: str, host: str, port: int, demo_key: str | None,
            admin_token: str | None) -> None:
    """What `serve` prints before it starts; `ledger_url` has its password hidden (Ledger.safe_url)."""
    base = f"http://{shown(host)}:{port}"
    model = catalog.models[0].id if catalog.models else "MODEL"
    where = f"gateway on {base}  (catalog {catalog.source}, ledger {ledger_url})"
    out.print(labelled("revshare", "bold", where))
    out.print(f"console: {base}/console/  (log in with the admin token, a customer's API key or a licensor token)")
    if admin_token:
        out.print(f"admin token for this run (set ${catalog.server.admin_token_env} to fix one): {admin_token}")
    if catalog.models:
        out.print("\n" + _about(catalog, catalog.models[0]))
    if demo_key:
        # Prompts that read as the start of a text: what a base model does well (and any other model too).
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Paris is the capital of"}],
                           "max_tokens": 24})
        out.print("\nTry it with curl:\n")
        print(f"curl -s {base}/v1/chat/completions -H 'Authorization: Bearer {demo_key}' "
              f"-H 'Content-Type: application/json' -d '{body}'")
        # The interpreter serving the demo has the SDK when installed with the dev extra (make run).
        has_sdk = importlib.util.find_spec("openai") is not None
        python = shlex.quote(sys.executable) if has_sdk else "python"
        out.print("\nor a text completion with the openai SDK" + ("" if has_sdk else " (pip install openai)") + ":\n")
        print(f'{python} -c "from openai import OpenAI; c = OpenAI(base_url=\'{base}/v1\', api_key=\'{demo_key}\'); '
              f"print(c.completions.create(model='{model}', prompt='The Eiffel Tower is', max_tokens=24)"
              '.choices[0].text)"')
        script = Path(sys.executable).parent / "revshare"
        command = f"{script if script.exists() else 'revshare'} usage"
        out.print(Text.assemble("\nThen see what was metered: ", (command, "bold"), "\n"))
    sys.stdout.flush()
