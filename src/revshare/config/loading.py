"""Reading a catalog: TOML in, a checked `Catalog` out, or one `ConfigError` naming every mistake.

Each line of a `ConfigError` names the file, the entry (with its id, name or model when it has
one) and the field::

    revshare.toml: models[1] (id='llama-ft').engine: unknown engine 'gpu0'

Mistakes inside sections (a float for money, an unknown field) are all reported together; the
checks across sections run once every section has parsed, and are also all reported together.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from revshare.config.catalog import Catalog
from revshare.config.checks import CatalogInvalid

__all__ = ["ConfigError", "describe", "load_catalog", "parse_catalog"]

UNKNOWN_FIELD = "unknown field (check the spelling; see docs/CONFIG.md)"


class ConfigError(Exception):
    """A catalog that cannot be used; each line of the message names file, entry and field."""


def describe(loc: tuple[str | int, ...], raw: dict[str, Any]) -> str:
    """`models[1] (id='x').engine` from a pydantic location and the raw TOML."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict):
                    key = node.get("id", node.get("name", node.get("model")))
                    if key is not None:
                        label += f" ({'id' if 'id' in node else 'name' if 'name' in node else 'model'}={key!r})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def _line(source: str, loc: tuple[str | int, ...], message: str, raw: dict[str, Any]) -> str:
    where = describe(loc, raw) if loc else "(top level)"
    return f"{source}: {where}: {message}"


def _lines(exc: ValidationError, raw: dict[str, Any], source: str) -> Iterator[str]:
    """One line per error: pydantic's own, or each one the cross-section checks returned."""
    for err in exc.errors():
        ctx_error = err.get("ctx", {}).get("error")
        if isinstance(ctx_error, CatalogInvalid):
            for error in ctx_error.errors:
                yield _line(source, error.loc, error.message, raw)
            continue
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        unknown = err["type"] == "extra_forbidden"
        message = UNKNOWN_FIELD if unknown else str(err["msg"]).removeprefix("Value error, ")
        yield _line(source, loc, message, raw)


def parse_catalog(raw: dict[str, Any], source: str = "<catalog>") -> Catalog:
    """Validate a catalog already read from TOML; raise ConfigError naming every mistake."""
    try:
        return Catalog.model_validate({**raw, "source": source})
    except ValidationError as exc:
        raise ConfigError("\n".join(_lines(exc, raw, source))) from None


def _shown(path: Path) -> str:
    """The path as errors name it: as written, but a newline or other non-printable character escaped,
    so each error stays one line and a file name cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    """Read and validate a TOML catalog file; errors name it as `source` (printable)."""
    p = Path(path)
    source = _shown(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such catalog file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"{source}: cannot read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return parse_catalog(raw, source=source)
