"""The rooms of src/revshare and the doors between them.

Each first-level package or module under ``src/revshare`` is a *room*; ``revshare/__init__.py``
is the package root (``revshare``). A room may import itself and the rooms in its row, nothing
else: not lazily inside a function, not under ``if TYPE_CHECKING:``. Read from the bottom up::

    room        holds                                        may import (besides itself)
    ----------  -------------------------------------------  -------------------------------------------------
    cli         the `revshare` command: the outer shell      any room, the package root
    api         HTTP only: OpenAI routes, admin, log routes  serving accounts reporting monthend metering ledger
                                                             logstore engines config records tlog metrics money
                                                             instants, the package root
    serving     one request's life outside HTTP              accounts reporting metering ledger engines config
                                                             records metrics money instants
    reporting   hourly usage rollups and their queries       monthend ledger records settlement money instants
    monthend    close a period, settle over the ledger       accounts analytics ledger logstore settlement records
                                                             tlog config money instants
    analytics   the columnar copy of the usage (DuckDB)      ledger settlement records config money instants
    logstore    the verifiable logs kept in SQL              ledger records tlog config metrics money instants
    accounts    customers, key limits, their audit (in SQL)  ledger config money instants
    ledger      the durable usage ledger (SQLAlchemy)        config records metering metrics money instants
    metering    rating against the price book, admission     config engines records money instants
    engines     how tokens are produced (base.Engine)        config records metrics money instants
    config      the validated catalog (revshare.toml)        money instants settlement
    metrics     every Prometheus series, defined once        nothing
    witness     a C2SP tlog-witness anyone runs (SQLite)     tlog
    ----- pure rooms below: no web, database or engine, so a base `pip install revshare` verifies -----
    verify      what a licensor runs offline                 tlog settlement money instants records
    settlement  statements and invoices, pure functions      money instants records
    tlog        RFC 6962 tree, proofs, checkpoints, notes    money instants
    records     the usage record, its log-leaf projection    money instants
    instants    parsing and formatting points in time        nothing
    money       D(), rounding, exact splits                  nothing
    revshare    the package root: ``__version__`` only       nothing

The room graph is acyclic, a new room must be added to ``MAY_IMPORT`` deliberately, and no module
reaches ``LINE_LIMIT`` lines. Tests never import test modules; shared helpers live in tests/support/.
"""

from __future__ import annotations

import ast
import functools
import graphlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "revshare"
TESTS = REPO / "tests"
ROOT = "revshare"
LINE_LIMIT = 400

ANY = "*"
MAY_IMPORT: Mapping[str, tuple[str, ...]] = {  # the table above; a room may always import itself
    name: tuple(allowed.split())
    for name, allowed in {
        ROOT: "",
        "money": "",
        "instants": "",
        "records": "money instants",
        "tlog": "money instants",
        "settlement": "money instants records",
        "verify": "tlog settlement money instants records",
        "config": "money instants settlement",
        "metrics": "",
        "witness": "tlog",
        "engines": "config records metrics money instants",
        "metering": "config engines records money instants",
        "ledger": "config records metering metrics money instants",
        "accounts": "ledger config money instants",
        "reporting": "monthend ledger records settlement money instants",
        "logstore": "ledger records tlog config metrics money instants",
        "monthend": "accounts analytics ledger logstore settlement records tlog config money instants",
        "analytics": "ledger settlement records config money instants",
        "serving": "accounts reporting metering ledger engines config records metrics money instants",
        "api": f"serving accounts reporting monthend metering ledger logstore engines config records tlog metrics money instants {ROOT}",
        "cli": ANY,
    }.items()
}


@dataclass(frozen=True)
class Import:
    path: Path  # the importing file
    line: int
    module: str  # absolute: `from ..ledger import schema` in revshare/api/x.py is revshare.ledger
    name: str | None = None  # what `from module import name` takes; None for `import module`

    def where(self, base: Path) -> str:
        return f"{self.path.relative_to(base).as_posix()}:{self.line}"

    def dotted(self) -> str:
        """The module the import reaches, naming the room even for `from revshare import ledger`."""
        return f"{self.module}.{self.name}" if self.module == ROOT and self.name else self.module


def module_name(path: Path, base: Path) -> str:
    """``base/a/b.py`` → ``a.b``; ``base/a/__init__.py`` → ``a`` (base is the folder above the top package)."""
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(node: ast.ImportFrom, path: Path, base: Path) -> str:
    """The absolute module of ``from X import ...``, resolving ``from .`` and ``from ..x``."""
    if not node.level:
        return node.module or ""
    package = module_name(path, base).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


@functools.cache
def syntax_tree(path: Path) -> ast.Module | SyntaxError:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as error:  # reported by the room test, not raised: one bad file must not hide the rest
        return error


def imports_in(path: Path, base: Path) -> Iterator[Import]:
    """Every import in the file, wherever it sits: module level, functions, `if TYPE_CHECKING:`."""
    if isinstance(tree := syntax_tree(path), SyntaxError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (Import(path, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = resolve(node, path, base)
            yield from (Import(path, node.lineno, module, alias.name) for alias in node.names)
        elif (
            isinstance(node, ast.Call)  # importlib.import_module("revshare.x") with a literal name
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(arg := node.args[0], ast.Constant)
            and isinstance(arg.value, str)
        ):
            yield Import(path, node.lineno, arg.value)


def room_of_module(module: str) -> str | None:
    """The room a ``revshare.*`` module belongs to (the root for names that are not a room); None outside."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    if len(parts) == 1 or parts[1] == "__main__":
        return ROOT
    room = parts[1]
    return room if (PACKAGE / room).is_dir() or (PACKAGE / f"{room}.py").is_file() else ROOT


def room_of_file(path: Path) -> str:
    return room_of_module(module_name(path, PACKAGE.parent)) or ROOT


def source_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@functools.cache
def room_imports() -> tuple[tuple[str, str, Import], ...]:
    """(importing room, imported room, import) for every import of a revshare module."""
    return tuple(
        (room_of_file(path), target, imp)
        for path in source_files()
        for imp in imports_in(path, PACKAGE.parent)
        if (target := room_of_module(imp.dotted())) is not None
    )


def may_import(room: str, target: str) -> bool:
    allowed = MAY_IMPORT.get(room, ())
    return target == room or target in allowed or ANY in allowed


def describe(room: str) -> str:
    allowed = MAY_IMPORT[room]
    return f"{room} may import " + ("any room" if ANY in allowed else f"only {', '.join(allowed) or 'nothing'}")


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_room_imports_follow_the_table(room: str) -> None:
    bad = {
        f"{imp.where(PACKAGE)} imports {imp.dotted()} ({describe(room)})"
        for importer, target, imp in room_imports()
        if importer == room and not may_import(room, target)
    }
    for path in source_files():
        if room_of_file(path) == room and isinstance(error := syntax_tree(path), SyntaxError):
            bad.add(f"{path.relative_to(PACKAGE).as_posix()}:{error.lineno} does not parse ({error.msg})")
    assert not bad, "\n".join(sorted(bad))


def test_room_graph_is_acyclic() -> None:
    imports: dict[str, set[str]] = {}  # room → rooms it imports, i.e. the rooms it comes after
    for importer, target, _ in room_imports():
        if importer != target:
            imports.setdefault(importer, set()).add(target)
    try:
        graphlib.TopologicalSorter(imports).prepare()
        cycle: list[str] = []
    except graphlib.CycleError as error:  # args[1]: [a, b, ..., a], each room imported by the next
        cycle = list(reversed(error.args[1]))
    assert not cycle, "rooms import each other: " + " → ".join(cycle)


def test_every_room_is_in_the_table() -> None:
    unknown = sorted({room_of_file(path) for path in source_files()} - set(MAY_IMPORT))
    assert not unknown, f"rooms missing from MAY_IMPORT in {Path(__file__).name}: {', '.join(unknown)}"


def test_modules_stay_small() -> None:
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in source_files()}
    too_long = [f"{p.relative_to(PACKAGE).as_posix()} ({n} lines)" for p, n in sorted(sizes.items()) if n >= LINE_LIMIT]
    assert not too_long, f"modules of {LINE_LIMIT} lines or more: " + ", ".join(too_long)


def is_test_module(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def test_no_test_module_imports_another() -> None:
    every_file = sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)
    test_modules = {module_name(p, REPO) for p in every_file if is_test_module(p.stem)}
    bad = {
        f"{imp.where(REPO)} imports {target}: shared helpers belong in tests/support/"
        for path in every_file
        if is_test_module(path.stem)
        for imp in imports_in(path, REPO)
        for target in (imp.module, f"{imp.module}.{imp.name}")
        if is_test_module(target) and (target == imp.module or target in test_modules)
    }
    assert not bad, "\n".join(sorted(bad))
