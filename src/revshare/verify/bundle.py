"""Reading a statement bundle: its files, as bytes, strict JSON, and the layout's proof files.

Every file is a regular file inside the bundle, of at most the size its format allows
(`revshare.verify.files`, `bundle_layout.MAX_*`): leaves.jsonl and carried.jsonl are bounded by
what the signed checkpoint and statement say they hold, so they are opened only once those have
verified (`SharedFiles.carried`, `revshare.verify.leaves`). JSON is read strictly: integers and
strings only (no fraction, exponent, NaN or Infinity: amounts are strings), no key twice, at most
`MAX_DEPTH` levels deep, valid UTF-8 throughout.

Every read failure is a BundleFormatError naming the file (or ConsistencyError, for a
consistency proof of other sizes than the statement's). The file names, and the formats of
border.json, consistency.json and carried.jsonl, are those of `revshare.settlement.bundle_layout`,
which the bundle's writer uses too; its parsers' BundleFileError becomes a BundleFormatError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revshare.settlement import LeafSet, LogRef, Period
from revshare.settlement import bundle_layout as layout
from revshare.settlement.bundle_terms import StatementTerms
from revshare.verify.errors import BundleFormatError, ConsistencyError
from revshare.verify.files import FileRefusedError, read_regular
from revshare.verify.leaves import LeafFile

__all__ = ["MAX_DEPTH", "SharedFiles", "check_statement", "log_ref", "read_file", "read_json", "read_signature",
           "statement_names"]

MAX_DEPTH = 32
"""The deepest a bundle's JSON may nest (a statement or terms.json nests 5 levels)."""

_MAX_INT = 2**53 - 1  # the largest integer of RFC 8785 JSON
STATEMENT_TYPE = "revshare.statement/v1"
SIGNATURE_TYPE = "revshare.statement-signature/v1"


def read_file(path: Path, limit: int = layout.MAX_SMALL_FILE, what: str = "this file") -> bytes:
    """The bytes of a bundle file: a regular file inside the bundle, of at most `limit` bytes."""
    try:
        return read_regular(path, limit, what, inside=True, name=path.name)
    except FileRefusedError as exc:
        raise BundleFormatError(str(exc)) from None


def _refuse_float(text: str) -> Any:
    raise ValueError(f"the number {text[:40]} is not an integer (amounts are strings)")


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _integer(text: str) -> int:
    if len(text) > 17 or abs(value := int(text)) > _MAX_INT:
        raise ValueError(f"the integer {text[:40]} is beyond 2^53 - 1, the largest RFC 8785 JSON holds")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:  # JSON readers differ on which one wins: refuse both
            raise ValueError(f"the field {json.dumps(key[:40])} appears twice")
        obj[key] = value
    return obj


def _check_tree(value: Any) -> str | None:
    """What is wrong with a parsed JSON value: nested too deep, or a string that is not UTF-8 text."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            items = v.items() if isinstance(v, dict) else ((None, x) for x in v)
            for k, x in items:
                if k is not None and not k.isascii():
                    stack.append((k, depth))
                stack.append((x, depth + 1))
        elif isinstance(v, str) and not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone surrogate (not UTF-8 text)"
    return None


def loads(data: bytes, name: str) -> Any:
    """A bundle file's JSON value, read strictly (see the module's docstring); BundleFormatError if not."""
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_unique, parse_float=_refuse_float,
                           parse_constant=_refuse_constant, parse_int=_integer)
    except RecursionError:
        raise BundleFormatError(f"{name} is not JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the hooks' refusals
        raise BundleFormatError(f"{name} is not JSON: {exc}") from None
    wrong = _check_tree(value)
    if wrong is not None:
        raise BundleFormatError(f"{name} is not JSON: {wrong}")
    return value


def read_json(path: Path, limit: int = layout.MAX_DOCUMENT, what: str = "a statement") -> Any:
    """A bundle file's JSON value (see `loads`)."""
    return loads(read_file(path, limit, what), path.name)


def _kind(value: object) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return {int: "an integer", str: "a string", list: "a list", dict: "an object"}.get(type(value), "a value")


def _object(value: object, where: str, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleFormatError(f"{where}: want a JSON object, got {_kind(value)}")
    for name in fields or ():
        if name not in value:
            raise BundleFormatError(f'{where}: "{name}" is missing')
    return value


def _count(obj: dict[str, Any], name: str, where: str, least: int = 0) -> int:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        want = "a non-negative integer" if least == 0 else "a positive integer" if least == 1 else \
            f"an integer of at least {least}"
        raise BundleFormatError(f'{where}: "{name}" must be {want}, got {_kind(value)}')
    return value


def _text(obj: dict[str, Any], name: str, where: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise BundleFormatError(f'{where}: "{name}" must be a string, got {_kind(value)}')
    return value


def statement_names(directory: Path) -> list[str]:
    """The statements of a bundle: `statement-*.json` files (not `*.previous.json`)."""
    return layout.statement_names(p.name for p in directory.glob("*.json"))


_STATEMENT_FIELDS: dict[str, type] = {
    "type": str, "contract": str, "licensor": str, "period": str, "number": int, "currency": str, "totals": dict,
    "lines": list, "adjustments": list, "segments": list, "log": dict}
_KINDS: dict[type, str] = {str: "a string", dict: "an object", list: "a list"}
_TOTALS = ("amount_due", "earned", "recoupment_after", "recoupment_before")


def check_statement(value: Any, name: str, *, previous: bool = False) -> dict[str, Any]:
    """A statement's fields the verifier reads, each present and of its type; returns the statement.

    `previous`: a statement this one chains to, whose "log" may be null (issued before the log filled it in).
    """
    statement = _object(value, name)
    if statement.get("type") != STATEMENT_TYPE:
        raise BundleFormatError(f"{name} is not a revshare statement (its \"type\" is not {STATEMENT_TYPE!r})")
    for field, kind in _STATEMENT_FIELDS.items():
        if field not in statement:
            raise BundleFormatError(f'{name}: "{field}" is missing')
        if field == "number":
            _count(statement, field, name, least=1)
        elif field == "log" and previous and statement[field] is None:
            continue
        elif not isinstance(statement[field], kind) or isinstance(statement[field], bool):
            want = _KINDS[kind]
            raise BundleFormatError(f'{name}: "{field}" must be {want}, got {_kind(statement[field])}')
    if "previous_hash" not in statement:
        raise BundleFormatError(f'{name}: "previous_hash" is missing')
    if not isinstance(statement["previous_hash"], str | None):
        raise BundleFormatError(f'{name}: "previous_hash" must be a string or null')
    if not isinstance(statement.get("cutoff"), str | None):
        raise BundleFormatError(f'{name}: "cutoff" must be a string or null')
    try:
        period = Period.parse(statement["period"])
    except ValueError:
        period = None
    if period is None or period.label != statement["period"]:
        raise BundleFormatError(f'{name}: "period" is not a month YYYY-MM, got {statement["period"][:40]!r}')
    totals = _object(statement["totals"], f'{name}: "totals"', _TOTALS)
    for field in _TOTALS:
        _text(totals, field, f'{name}: "totals"')
    for i, segment in enumerate(statement["segments"]):
        _text(_object(segment, f'{name}: "segments"[{i}]', ("start",)), "start", f'{name}: "segments"[{i}]')
    return statement


_LOG_FIELDS = ("after_seq", "carried", "cut_seqs", "deferred", "first_index", "first_seq", "last_index",
               "last_seq", "origin", "previous", "root", "size", "through_seq")


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _leaf_set(value: object, where: str) -> LeafSet:
    obj = _object(value, where, ("count", "sha256"))
    return LeafSet(_count(obj, "count", where), _text(obj, "sha256", where))


def log_ref(value: object, name: str) -> LogRef:
    """A statement's "log", read strictly: every field of its type, and in the form the writer writes."""
    where = f'{name}: "log"'
    obj = _object(value, where, _LOG_FIELDS)
    seqs = [None if obj[k] is None else _count(obj, k, where) for k in ("first_seq", "last_seq")]
    cut_seqs = obj["cut_seqs"]
    if not isinstance(cut_seqs, list):
        raise BundleFormatError(f'{where}: "cut_seqs" must be a list, got {_kind(cut_seqs)}')
    previous = _object(obj["previous"], f'{where}: "previous"', ("root", "size"))
    ref = LogRef(_text(obj, "origin", where), _count(obj, "size", where), _text(obj, "root", where), seqs[0], seqs[1],
                 _count(previous, "size", f'{where}: "previous"'), _text(previous, "root", f'{where}: "previous"'),
                 _count(obj, "after_seq", where), _count(obj, "through_seq", where),
                 tuple(_count({"cut_seqs": s}, "cut_seqs", where) for s in cut_seqs),
                 _leaf_set(obj["carried"], f'{where}: "carried"'), _leaf_set(obj["deferred"], f'{where}: "deferred"'))
    written = ref.to_json()
    for key in sorted(set(written) | set(obj)):
        if _canonical(written.get(key, "<absent>")) != _canonical(obj.get(key, "<absent>")):
            raise BundleFormatError(f"{name}: log.{key} is {obj.get(key, '<absent>')!r}, want "
                                    f"{written.get(key, '<absent>')!r} (the rest of the log reference gives it)")
    return ref


def read_signature(path: Path, statement_file: str) -> tuple[str, str | None, str | None]:
    """A statement's .sig file: (signature, the key it names or None, the sha256 it names or None)."""
    sig = _object(read_json(path, layout.MAX_SMALL_FILE, "a signature file"), path.name, ("signature",))
    extra = sorted(set(sig) - {"key", "sha256", "signature", "statement", "type"})
    if extra:
        raise BundleFormatError(f"{path.name}: unknown field {json.dumps(extra[0][:40])}")
    if sig.get("type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise BundleFormatError(f'{path.name}: "type" is not {SIGNATURE_TYPE!r}')
    if sig.get("statement", statement_file) != statement_file:
        raise BundleFormatError(f"{path.name} names {json.dumps(str(sig['statement'])[:80])}, not {statement_file}")
    named = [_text(sig, k, path.name) if k in sig else None for k in ("key", "sha256")]
    return _text(sig, "signature", path.name), named[0], named[1]


def _terms(value: Any) -> StatementTerms:
    try:
        return StatementTerms.from_json(_object(value, layout.TERMS))
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        errors = getattr(exc, "errors", None)  # pydantic's ValidationError: its first error, in one line
        if callable(errors) and errors():
            first = errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            raise BundleFormatError(f"{layout.TERMS}: {getattr(exc, 'title', '')}.{where}: {first.get('msg')}") \
                from None
        reason = f"{exc!r}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise BundleFormatError(f"{layout.TERMS}: {reason}") from None


def _lines(data: bytes, name: str) -> list[bytes]:
    if data and not data.endswith(b"\n"):
        raise BundleFormatError(f"{name}: the last line has no newline (truncated?)")
    return data.split(b"\n")[:-1] if data else []


class SharedFiles:
    """The files every statement of a bundle shares, read once.

    Attributes:
        border_size, border: the size m of the previous tree and its border, from border.json.
        terms: terms.json.
    The carried leaves are read on demand (`carried`), once a signed statement says how many
    there are; the range's leaves are streamed (`revshare.verify.leaves`).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._carried: list[layout.CarriedLeaf] | None = None
        self._leaves: LeafFile | None = None
        self._count = 0
        try:
            border = layout.BorderFile.parse(read_file(directory / layout.BORDER))
        except layout.BundleFileError as exc:
            raise BundleFormatError(str(exc)) from None
        self.border_size, self.border = border.size, border.hashes
        self.terms = _terms(read_json(directory / layout.TERMS, layout.MAX_DOCUMENT, "terms"))

    def carried(self, count: int) -> list[layout.CarriedLeaf]:
        """The lines of carried.jsonl, each a `layout.CarriedLeaf`: at most `count` lines' worth of bytes."""
        if self._carried is None:
            data = read_file(self.directory / layout.CARRIED, count * layout.MAX_CARRIED_LINE,
                             "1 carried leaf" if count == 1 else f"{count} carried leaves")
            try:
                self._carried = [layout.CarriedLeaf.parse(line, i + 1)
                                 for i, line in enumerate(_lines(data, layout.CARRIED))]
            except layout.BundleFileError as exc:
                raise BundleFormatError(str(exc)) from None
        return self._carried

    def leaves(self, count: int) -> LeafFile:
        """leaves.jsonl, open, if it can hold `count` leaves (see `revshare.verify.leaves`)."""
        if self._leaves is None or self._count != count:
            self.close()
            self._leaves, self._count = LeafFile.open(self.directory, count), count
        return self._leaves

    def close(self) -> None:
        """Close leaves.jsonl, if it was opened."""
        if self._leaves is not None:
            self._leaves.close()
            self._leaves = None

    def note(self, name: str) -> str:
        """A signed note's text (`layout.CHECKPOINT` or `layout.PREVIOUS_CHECKPOINT`)."""
        try:
            return read_file(self.directory / name, layout.MAX_SMALL_FILE, "a checkpoint note").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleFormatError(f"{name} is not UTF-8 text: {exc}") from None

    def consistency(self, m: int, n: int) -> tuple[bytes, ...]:
        """The consistency proof from size m to n."""
        try:
            data = layout.ConsistencyFile.parse(read_file(self.directory / layout.CONSISTENCY))
        except layout.BundleFileError as exc:
            raise BundleFormatError(str(exc)) from None
        if (data.old, data.new) != (m, n):
            raise ConsistencyError(f"{layout.CONSISTENCY} is not the proof from size {m} to {n}")
        return data.proof
