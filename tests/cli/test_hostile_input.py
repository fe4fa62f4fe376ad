"""No argument gives a `revshare` command a traceback, and user text is printed as written.

Whatever a user types, a file holds or the catalog says is printed literally, never read as rich
markup (issue 11, item 3); bad input is an `error:` line and a non-zero exit, never a traceback
(issues 11 and 17). The property tests feed arbitrary strings (markup, undecodable argv bytes as
surrogates, NULs, control characters, huge numbers) to every command that takes a name, a period
or a path, against a ledger with a closed and settled period so the paths are really written.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner, Result

from revshare.cli import app
from revshare.ledger.store import Ledger
from revshare.records.record import Outcome, UsageRecord
from tests.support.paths import REPO

runner = CliRunner()
PERIOD = "2026-01"

HOSTILE = [
    "[/x]", "[bold]", "[bold]x[/bold]", "[[customers]]", "[link=https://x]y[/link]", "[", "]", "\\[x]", "[/]",
    "\x00", "a\x00b", "\udcff", "\ud800", "x\udc80y", "", " ", "-", "--help", "-x", "%s", "{}", "\n", "a\r\nb",
    "\x1b[31mred", "\u202eevil", "a" * 300, "..", ".", "/", "0000-01", "9999-12", "2026-00", "2026-13", "2026-1",
    " 2026-01 ", "2026-01\n", "٢٠٢٦-٠١", "99999999999999999999999", "-99999999999999999999999", "1e999", "NaN",
    "demo", "google", "_host",
]
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=4)), max_size=4).map("".join),
)
NUMBER = st.one_of(st.integers().map(str), TEXT)


@dataclass(frozen=True)
class World:
    env: dict[str, str]
    base: Path
    config: Path


def usage_record(n: int, started: datetime) -> UsageRecord:
    amount = (Decimal(1000) * Decimal("0.10") + Decimal(500) * Decimal("0.40")).scaleb(-6)
    return UsageRecord(
        id=f"rec_hostile{n:06d}", started_at=started, ended_at=started, customer="acme", key_id="key_acme",
        model="gemma-3-270m", engine="local", endpoint="chat.completions", outcome=Outcome.OK, prompt_tokens=1000,
        completion_tokens=500, amount=amount, currency="USD", price_version="gemma-3-270m@2026-01-01T00:00:00Z",
        licensors=("google",))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The demo catalog with its own data dir, and a ledger whose January is closed and settled."""
    base = tmp_path_factory.mktemp("hostile")
    config = base / "revshare.toml"
    config.write_text((REPO / "revshare.toml").read_text().replace(
        'host_name = "revshare-demo"', f'host_name = "revshare-demo"\ndata_dir = "{base / "data"}"'))
    url = f"sqlite:///{base / 'ledger.db'}"
    ledger = Ledger(url)
    ledger.migrate()
    ledger.append_now([usage_record(n, datetime(2026, 1, 2 + n, 12, tzinfo=UTC)) for n in range(3)])
    ledger.close()
    env = {"REVSHARE_DATABASE_URL": url, "REVSHARE_CONFIG": str(config)}
    for args in (["period", "close", PERIOD], ["settle", "--period", PERIOD, "--out", str(base / "statements")]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    yield World(env, base, config)


def run(world: World, args: list[str]) -> Result:
    """Invoke; whatever the arguments, the command ends by exiting, never by an exception."""
    result = runner.invoke(app, args, env=world.env)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args, result.output, result.exc_info)
    assert "Traceback" not in result.output, (args, result.output)
    assert "a bug in revshare" not in result.output, (args, result.output)  # the last-resort handler
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    if result.exit_code != 0:
        last = result.output.strip().splitlines()[-1] if result.output.strip() else ""
        assert re.match(r"(error|Error): .", last), (args, result.output)
    return result


def refused(world: World, args: list[str]) -> Result:
    result = run(world, args)
    assert result.exit_code != 0, (args, result.output)
    return result


def is_text(value: str) -> bool:
    """What a command line can carry as text: UTF-8 (no surrogates) without NUL."""
    return "\x00" not in value and not re.search(r"[\ud800-\udfff]", value)


def inside(world: World, value: str) -> str:
    """A path under the test's directory whatever `value` holds: no `..`, never absolute."""
    parts = [p for p in value.split("/") if p not in ("", "..")] or ["empty"]
    return str(world.base / "out" / "/".join(parts))


# Commands that take a name: an unknown name is refused, quoted exactly as given.
NAMED: list[tuple[Callable[[World, str], list[str]], str, frozenset[str]]] = [
    (lambda w, v: ["keys", "create", f"--customer={v}"], "no customer named", frozenset({"demo", "acme"})),
    (lambda w, v: ["credit", f"--customer={v}", "--amount=1", "--reason=r"], "no customer named",
     frozenset({"demo", "acme"})),
    (lambda w, v: ["licensor", "token", "create", f"--licensor={v}"], "no licensor", frozenset({"google"})),
    (lambda w, v: ["keys", "revoke", "--", v], "no live key", frozenset()),
    (lambda w, v: ["log", "receipt", "--", v], "no record", frozenset()),
    (lambda w, v: ["credit", "--customer=acme", "--amount=1", "--reason=r", f"--model={v}"], "no model",
     frozenset({"gemma-3-270m"})),
    (lambda w, v: ["export", "statement-bundle", f"--period={PERIOD}", f"--licensor={v}",
                   f"--out={w.base / 'scratch'}"], "licensor", frozenset({"google"})),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT, which=st.integers(0, len(NAMED) - 1))
@example(value="[/x]", which=0)
@example(value="\udcff", which=3)
@example(value="a\x00b", which=4)
def test_an_unknown_name_is_refused_and_quoted_as_written(world: World, value: str, which: int) -> None:
    build, message, known = NAMED[which]
    if value in known:
        run(world, build(world, value))
        return
    result = refused(world, build(world, value))
    if is_text(value) and value.strip() and not value.startswith("-"):
        assert message in result.output and repr(value) in result.output, result.output


# Commands that take a period: anything that is not a month the calendar can hold is refused.
PERIODS: list[Callable[[World, str], list[str]]] = [
    lambda w, v: ["period", "close", "--", v],
    lambda w, v: ["settle", f"--period={v}", f"--out={w.base / 'scratch'}"],
    lambda w, v: ["export", "statement-bundle", f"--period={v}", "--licensor=google",
                  f"--out={w.base / 'scratch'}"],
    lambda w, v: ["credit", "--customer=acme", "--amount=1", "--reason=r", f"--refers-to={v}",
               f"--id={uuid.uuid4().hex}"],
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT, which=st.integers(0, len(PERIODS) - 1))
@example(value="0000-01", which=0)
@example(value="9999-12", which=1)
@example(value="0000-01", which=3)
def test_a_period_that_is_not_a_month_is_refused(world: World, value: str, which: int) -> None:
    month = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
    year_month = (int(month.group(1)), int(month.group(2))) if month else (0, 0)
    if (1, 1) <= year_month <= (9999, 11) and 1 <= year_month[1] <= 12:  # a month with a month after it
        run(world, PERIODS[which](world, value))  # a real month: its own refusal (not closed, ...) or success
    else:
        refused(world, PERIODS[which](world, value))


# Commands that take a path, or free text that is stored and printed back.
FREE: list[Callable[[World, str], list[str]]] = [
    lambda w, v: ["settle", f"--period={PERIOD}", f"--out={inside(w, v)}"],
    lambda w, v: ["export", "statement-bundle", f"--period={PERIOD}", "--licensor=google", f"--out={inside(w, v)}"],
    lambda w, v: ["config", "check", f"--config={inside(w, v)}"],
    lambda w, v: ["usage", f"--customer={v}"],
    lambda w, v: ["keys", "list", f"--customer={v}"],
    lambda w, v: ["keys", "create", "--customer=acme", f"--label={v}"],
    lambda w, v: ["licensor", "token", "create", "--licensor=google", f"--label={v}"],
    lambda w, v: ["log", "checkpoint", "--", v],
    lambda w, v: ["log", "receipt", "rec_hostile000000", f"--log={v}"],
    lambda w, v: ["credit", "--customer=acme", f"--amount={v}", "--reason=r", f"--id={uuid.uuid4().hex}"],
    lambda w, v: ["credit", "--customer=acme", "--amount=1", "--reason=r", f"--kind={v}"],
    lambda w, v: ["credit", "--customer=acme", "--amount=1", "--reason=r", f"--currency={v}"],
    lambda w, v: ["credit", "--customer=acme", "--amount=1", "--reason=r", f"--id={v}"],
    lambda w, v: [v],
    lambda w, v: ["keys", v],
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT, which=st.integers(0, len(FREE) - 1))
@example(value="a" * 300, which=0)
@example(value="\udcff", which=3)
@example(value="a" * 300, which=5)
@example(value="1e999", which=9)
@example(value="x\n\x1b[2Jy", which=2)
def test_free_text_and_paths_never_give_a_traceback(world: World, value: str, which: int) -> None:
    run(world, FREE[which](world, value))


INTEGERS: list[Callable[[str], list[str]]] = [
    lambda v: ["usage", f"--after-seq={v}"],
    lambda v: ["usage", f"--limit={v}"],
    lambda v: ["serve", f"--port={v}"],
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=NUMBER, which=st.integers(0, len(INTEGERS) - 1))
@example(value="99999999999999999999999", which=0)
@example(value="-1", which=1)
@example(value="70000", which=2)
def test_numbers_out_of_range_are_refused(world: World, value: str, which: int) -> None:
    import uvicorn

    started: list[int] = []
    with mock.patch.object(uvicorn, "run", lambda app, **kw: started.append(kw["port"])):
        result = run(world, INTEGERS[which](value))
    if which == 2:  # serve starts only on a port that exists
        assert (result.exit_code == 0) == bool(started), result.output
        assert all(1 <= port <= 65535 for port in started), started
        if not re.fullmatch(r"\s*[+-]?[0-9_.]+\s*", value):
            assert result.exit_code != 0, result.output


def test_a_credit_reason_in_brackets_is_granted_once_and_printed_as_written(world: World) -> None:
    result = run(world, ["credit", "--customer=acme", "--amount=1.25", "--reason=[/x] [bold]outage[/bold]",
                         f"--id={uuid.uuid4().hex}"])
    assert result.exit_code == 0, result.output
    assert "([/x] [bold]outage[/bold])" in result.output


def test_a_catalog_path_with_brackets_is_reported_as_written(world: World) -> None:
    folder = world.base / "[[customers]]" / "[/x]"
    folder.mkdir(parents=True)
    bad = folder / "cat[1].toml"
    bad.write_text(world.config.read_text().replace('engine = "local"', 'engine = "gpu9"'))
    result = refused(world, ["config", "check", "--config", str(bad)])
    assert f"error: {bad}: models[0] (id='gemma-3-270m').engine: unknown engine 'gpu9'" in result.output
    good = folder / "ok[2].toml"
    good.write_text(world.config.read_text())
    assert run(world, ["config", "check", "--config", str(good)]).output.startswith(f"{good}: ok: ")


def test_help_texts_keep_their_brackets() -> None:
    def flat(args: list[str]) -> str:
        return " ".join(runner.invoke(app, [*args, "--help"]).output.split())

    assert "Address to listen on [default: server.host]" in flat(["serve"])
    assert "every `[log] interval_s`" in flat(["log", "integrate"])
    assert "Which of the record's logs [default: the first]" in flat(["log", "receipt"])


def test_the_install_hint_keeps_its_extras(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # the server extras are not installed
    result = refused(world, ["serve"])
    assert "pip install 'revshare[server,embedded]'" in result.output


def test_an_unreadable_ledger_is_one_line_naming_it(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise OperationalError("SELECT", {}, Exception("disk I/O error [/x]"))

    monkeypatch.setattr(Ledger, "records", broken)
    result = refused(world, ["usage"])
    assert result.exit_code == 1
    assert "disk I/O error [/x]" in result.output and "SELECT" not in result.output


def test_an_unexpected_error_is_one_line_not_a_traceback(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom [/x]")

    monkeypatch.setattr(Ledger, "keys", broken)
    result = runner.invoke(app, ["keys", "list"], env=world.env)
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.exc_info
    assert result.output.strip().splitlines() == [
        "error: unexpected RuntimeError: boom [/x] (a bug in revshare: set REVSHARE_TRACEBACK=1 to see where)"]
    monkeypatch.setenv("REVSHARE_TRACEBACK", "1")
    result = runner.invoke(app, ["keys", "list"], env=world.env)
    assert isinstance(result.exception, RuntimeError)
