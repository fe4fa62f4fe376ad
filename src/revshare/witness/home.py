"""A witness's folder: its key, its public key, the logs it follows, its database.

    <dir>/witness.key    the Ed25519 signer key (PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>), mode 0600
    <dir>/witness.vkey   its verifier key, one line: hand it to logs and to verifiers
    <dir>/witness.toml   the logs to cosign, written by the operator:

        [[log]]
        origin = "revshare.example/revshare/google"    # the checkpoint's first line
        vkey = "revshare.example/revshare+1a2b3c4d+AQ…"  # or a list of vkeys, while a log rotates

    <dir>/witness.db     SQLite, see store.py

`init_home` creates the folder's files (refusing to replace a key); `load_home` reads them,
raising WitnessConfigError with the file, the entry and the field at the first fault.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from revshare.tlog.cosignature import WitnessKey
from revshare.tlog.errors import TlogError
from revshare.tlog.note import Verifier
from revshare.witness.errors import WitnessConfigError

__all__ = ["CONFIG", "DATABASE", "KEY", "VKEY", "WitnessHome", "init_home", "load_home", "parse_logs"]

KEY, VKEY, CONFIG, DATABASE = "witness.key", "witness.vkey", "witness.toml", "witness.db"

CONFIG_TEMPLATE = """\
# The logs this witness cosigns: one [[log]] table per log.
#   origin: the log's origin, the first line of its checkpoints
#   vkey:   the log's verifier key (C2SP vkey), or a list of them
#
# [[log]]
# origin = "revshare.example/revshare/google"
# vkey = "revshare.example/revshare+1a2b3c4d+AQ..."
"""


@dataclass(frozen=True)
class WitnessHome:
    """A loaded witness folder.

    Attributes:
        path: the folder.
        key: the witness's signing key.
        logs: origin -> the log's verifier keys, from witness.toml.
    """

    path: Path
    key: WitnessKey
    logs: Mapping[str, tuple[Verifier, ...]]

    @property
    def database(self) -> Path:
        return self.path / DATABASE


def init_home(path: Path, name: str) -> WitnessKey:
    """Create a witness folder with a fresh key named `name`, its vkey and a witness.toml to fill in.

    Refuses a folder that already holds a key; keeps a witness.toml already there.
    """
    try:
        key = WitnessKey.generate(name)
    except TlogError as exc:
        raise WitnessConfigError(f"witness name {name!r}: {exc}") from None
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        key.save(path / KEY)
    except FileExistsError:
        raise WitnessConfigError(f"{path / KEY} already exists: a witness keeps its key (remove it to start over)") \
            from None
    (path / VKEY).write_text(key.verifier_text() + "\n")
    config = path / CONFIG
    if not config.exists():
        config.write_text(CONFIG_TEMPLATE)
    return key


def load_home(path: Path) -> WitnessHome:
    """Read a witness folder made by init_home: its key (0600) and the logs of its witness.toml."""
    if not path.is_dir():
        raise WitnessConfigError(f"{path} is not a witness folder: run 'revshare witness init --dir {path}' first")
    try:
        key = WitnessKey.load(path / KEY)
    except FileNotFoundError:
        raise WitnessConfigError(f"{path / KEY} is missing: run 'revshare witness init' first") from None
    except (OSError, TlogError) as exc:
        raise WitnessConfigError(f"{path / KEY}: {exc}") from None
    config = path / CONFIG
    try:
        text = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WitnessConfigError(f"{config} is missing: list the logs to cosign there") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessConfigError(f"{config}: {exc}") from None
    return WitnessHome(path, key, parse_logs(text, str(config)))


def parse_logs(text: str, source: str = CONFIG) -> dict[str, tuple[Verifier, ...]]:
    """The [[log]] tables of a witness.toml: origin -> verifier keys."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WitnessConfigError(f"{source}: not TOML: {exc}") from None
    unknown = sorted(set(doc) - {"log"})
    if unknown:
        raise WitnessConfigError(f"{source}: unknown table or key {unknown[0]!r}: want only [[log]] tables")
    tables = doc.get("log", [])
    if not isinstance(tables, list):
        raise WitnessConfigError(f"{source}: 'log' must be an array of tables, written [[log]]")
    logs: dict[str, tuple[Verifier, ...]] = {}
    for i, table in enumerate(tables, 1):
        where = f"{source}: [[log]] #{i}"
        if not isinstance(table, dict):
            raise WitnessConfigError(f"{where}: want a table")
        extra = sorted(set(table) - {"origin", "vkey"})
        if extra:
            raise WitnessConfigError(f"{where}: unknown field {extra[0]!r}: want origin and vkey")
        origin = table.get("origin")
        if not isinstance(origin, str) or not origin or "\n" in origin:
            raise WitnessConfigError(f"{where}: origin: want the log's origin line, a non-empty string")
        if origin in logs:
            raise WitnessConfigError(f"{where}: origin {origin!r} is listed twice")
        logs[origin] = _verifiers(f"{where} ({origin})", table.get("vkey"))
    return logs


def _verifiers(where: str, value: object) -> tuple[Verifier, ...]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise WitnessConfigError(f"{where}: vkey: want a vkey string or a non-empty list of them")
    keys = []
    for text in texts:
        try:
            keys.append(Verifier.from_text(str(text)))
        except TlogError as exc:
            raise WitnessConfigError(f"{where}: vkey {str(text)[:60]!r}: {exc}") from None
    return tuple(keys)

