"""revshare.witness: a C2SP tlog-witness anyone can run (a licensor, an auditor, a customer).

It follows the logs its operator lists, cosigns (cosignature/v1, Ed25519) each checkpoint
that is consistent with the latest one it cosigned, and never two that are not: a host that
shows different logs to different parties is caught at the first witness they share.

    home.py      the witness folder: key (0600), vkey, witness.toml (the logs followed), database
    protocol.py  the add-checkpoint request body
    store.py     the latest cosigned checkpoint per log, in SQLite, with compare-and-swap
    service.py   Witness: the checks, in the spec's order, and the cosignature
    app.py       the HTTP routes (Starlette; imported on its own, it needs the server extras)
    errors.py    one error per refusal, each mapped to its status in app.py

Imports only revshare.tlog. See docs/TLOG.md ("Witness") and docs/VERIFY.md.
"""

from __future__ import annotations

from revshare.witness.errors import (
    BadProofError,
    ForkError,
    LogSignatureError,
    MalformedRequestError,
    StaleSizeError,
    UnknownLogError,
    WitnessConfigError,
    WitnessError,
)
from revshare.witness.home import WitnessHome, init_home, load_home, parse_logs
from revshare.witness.protocol import AddCheckpointRequest, parse_add_checkpoint, render_add_checkpoint
from revshare.witness.service import Witness
from revshare.witness.store import LogState, WitnessStore

__all__ = [
    "AddCheckpointRequest",
    "BadProofError",
    "ForkError",
    "LogSignatureError",
    "LogState",
    "MalformedRequestError",
    "StaleSizeError",
    "UnknownLogError",
    "Witness",
    "WitnessConfigError",
    "WitnessError",
    "WitnessHome",
    "WitnessStore",
    "init_home",
    "load_home",
    "parse_add_checkpoint",
    "parse_logs",
    "render_add_checkpoint",
]
