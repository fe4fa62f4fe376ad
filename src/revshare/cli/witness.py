"""`revshare witness`: run a C2SP tlog-witness of your own, to cosign a host's checkpoints.

Thin: `init` calls revshare.witness.init_home, `serve` loads the folder and runs the app with
uvicorn. The protocol and the checks live in revshare.witness.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from revshare.cli._common import app, err, fail, labelled, out, shown
from revshare.witness import WitnessConfigError, WitnessStore, init_home, load_home
from revshare.witness.home import CONFIG, KEY, VKEY

witness_app = typer.Typer(help="A witness of your own: cosign the checkpoints of logs you follow (C2SP tlog-witness).",
                          no_args_is_help=True)
app.add_typer(witness_app, name="witness")

DirOption = Annotated[Path, typer.Option("--dir", help="The witness folder: key, vkey, witness.toml, database.")]


@witness_app.command("init")
def witness_init(
    directory: DirOption,
    name: Annotated[str, typer.Option(help="The witness's key name, a URL without scheme: witness.example.org/w1")],
) -> None:
    """Create a witness folder: a new Ed25519 key (0600), its vkey, and a witness.toml to list the logs to cosign.

    Prints the witness's verifier key last: hand it to the logs and to whoever verifies cosignatures.

    Example: revshare witness init --dir witness --name witness.example.org/w1
    """
    try:
        key = init_home(directory, name)
    except (WitnessConfigError, OSError) as exc:
        fail(str(exc))
    out.print(f"key: {shown(directory / KEY)} (mode 0600, keep it secret)")
    out.print(f"logs to cosign: list them in {shown(directory / CONFIG)}, then run "
              f"revshare witness serve --dir {shown(directory)}")
    out.print(f"verifier key ({shown(directory / VKEY)}):")
    print(key.verifier_text())


@witness_app.command("serve")
def witness_serve(
    directory: DirOption,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 7380,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve POST /add-checkpoint and GET /checkpoint/<origin> for the logs listed in witness.toml.

    Example: revshare witness serve --dir witness --port 7380
    """
    try:
        import uvicorn

        from revshare.witness.app import create_app
    except ImportError:
        fail("serving a witness needs the server extras: pip install 'revshare[server]'")
    from revshare.witness import Witness

    try:
        home = load_home(directory)
        store = WitnessStore(home.database)
    except WitnessConfigError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot open {shown(directory)}: {exc}")
    if not home.logs:
        err.print(labelled("warning:", "bold yellow",
                           f"{shown(directory / CONFIG)} lists no log: every checkpoint will be refused (404)"))
    out.print(f"witness {shown(home.key.name)} cosigns {len(home.logs)} log(s) on http://{shown(host)}:{port}")
    for origin in sorted(home.logs):
        out.print(f"  {shown(origin)}")
    uvicorn.run(create_app(Witness(home.key, home.logs, store)), host=host, port=port, log_level=log_level)
