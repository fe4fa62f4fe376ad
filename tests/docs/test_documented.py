"""Docs cannot drift: every command and every catalog field is documented, and README's
commands exist."""

from __future__ import annotations

import re
from typing import Any

import typer.main
from pydantic import BaseModel

from revshare.cli import app
from revshare.config import Customer, EngineConfig, ModelConfig, Price, ServerConfig
from tests.support.paths import REPO


def command_paths(command: Any, prefix: str = "revshare") -> list[str]:
    # typer may vendor its own click: recognise a group by its subcommands, not its class.
    if hasattr(command, "commands"):
        paths = []
        for name, sub in command.commands.items():
            paths += command_paths(sub, f"{prefix} {name}")
        return paths
    return [prefix]


def test_every_command_is_documented_in_cli_md() -> None:
    docs = (REPO / "docs" / "CLI.md").read_text()
    headings = set(re.findall(r"^## (revshare[a-z -]*)$", docs, flags=re.M))
    commands = set(command_paths(typer.main.get_command(app)))
    assert commands, "no commands found"
    assert commands - headings == set(), "commands without a '## revshare …' section in docs/CLI.md"
    assert headings - commands == set(), "docs/CLI.md documents commands that do not exist"


def test_every_command_has_help_with_an_example_or_a_summary() -> None:
    for path in command_paths(typer.main.get_command(app)):
        command = typer.main.get_command(app)
        for name in path.split()[1:]:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert command.help and len(command.help) > 20, path


def fields(model: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields if not name.startswith("_")]


def test_every_catalog_field_is_documented_in_config_md() -> None:
    docs = (REPO / "docs" / "CONFIG.md").read_text()
    for model in (ServerConfig, EngineConfig, ModelConfig, Price, Customer):
        for name in fields(model):
            assert f"| `{name}` |" in docs, f"{model.__name__}.{name} is not in docs/CONFIG.md"


def test_contract_fields_are_documented_in_settlement_md() -> None:
    from revshare.settlement.terms import ContractConfig, LicensorConfig

    docs = (REPO / "docs" / "SETTLEMENT.md").read_text()
    for model in (LicensorConfig, ContractConfig):
        for name in fields(model):
            assert f"`{name}`" in docs, f"{model.__name__}.{name} is not in docs/SETTLEMENT.md"


def test_readme_quick_start_is_two_make_targets_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    makefile = (REPO / "Makefile").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick and "make test" in quick
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()
