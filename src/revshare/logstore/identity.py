"""Who signs the logs and how they are named: the host key, the pseudonym secret, origins.

Both secrets live in the data dir and are created on first start, mode 0600, never logged:

    <data_dir>/log.key      the Ed25519 signer key (C2SP `PRIVATE+KEY+...`), or `[log] key_path`
    <data_dir>/log.secret   32 random bytes (hex) keying the HMAC pseudonyms of customers and keys

Log ids: one per licensor (its catalog id), and `_host` for records with no licensor (a
licensor id cannot start with `_`). The origin of log L is `<prefix>/<L>`, the prefix being
`[log] origin_prefix` or `<server.host_name>/revshare`; the key is named after the prefix.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from revshare.config import Catalog
from revshare.tlog import HostKey, InsecureKeyFileError

__all__ = ["HOST_LOG", "LogIdentity", "catalog_log_ids", "key_path", "load_identity", "log_ids_for", "secret_path"]

HOST_LOG = "_host"


def log_ids_for(licensors: tuple[str, ...]) -> tuple[str, ...]:
    """The logs a record with this licensor chain goes into."""
    return licensors or (HOST_LOG,)


def catalog_log_ids(catalog: Catalog) -> list[str]:
    """Every log the catalog implies: each licensor (declared or named by a model), and `_host`."""
    ids = {lic.id for lic in catalog.licensors} | {m.licensor for m in catalog.models if m.licensor}
    return [*sorted(ids), HOST_LOG]


def origin_prefix(catalog: Catalog) -> str:
    return catalog.log.origin_prefix or f"{catalog.server.host_name}/revshare"


def key_path(catalog: Catalog) -> Path:
    return Path(catalog.log.key_path or Path(catalog.server.data_dir) / "log.key")


def secret_path(catalog: Catalog) -> Path:
    return Path(catalog.server.data_dir) / "log.secret"


@dataclass(frozen=True)
class LogIdentity:
    """The host's signing key, the pseudonym secret and the origin prefix.

    Attributes:
        key: the Ed25519 key that signs every log's checkpoints.
        secret: the HMAC key of customer and key pseudonyms (left out of repr).
        prefix: origins are `<prefix>/<log id>`.
    """

    key: HostKey
    secret: bytes = field(repr=False)
    prefix: str

    def origin(self, log_id: str) -> str:
        return f"{self.prefix}/{log_id}"

    def log_id(self, origin: str) -> str | None:
        """The log id of one of our origins, else None."""
        head, sep, log_id = origin.rpartition("/")
        return log_id if sep and head == self.prefix else None


def _write_new(path: Path, text: str) -> None:
    """Create `path` with mode 0600 atomically; never overwrite (a racing creator wins)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data dir: owner-only when created here
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def _read_private(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InsecureKeyFileError(str(path), mode)
    return path.read_text().strip()


def load_identity(catalog: Catalog, *, create: bool = True) -> LogIdentity:
    """Read the key and the secret, creating them on first use unless `create` is False.

    Raises FileNotFoundError (create=False), InsecureKeyFileError or MalformedKeyError.
    """
    prefix = origin_prefix(catalog)
    kpath, spath = key_path(catalog), secret_path(catalog)
    if create and not kpath.exists():
        _write_new(kpath, HostKey.generate(prefix).to_text() + "\n")
    if create and not spath.exists():
        _write_new(spath, secrets.token_hex(32) + "\n")
    key = HostKey.from_text(_read_private(kpath))
    secret = bytes.fromhex(_read_private(spath))
    return LogIdentity(key, secret, prefix)
