"""docs/DEPLOY.md's examples work: its catalog parses, every command line it shows is one the CLI
accepts, the systemd unit reads as one, and the image installs an extra that exists."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import tomllib
from typing import Any

import typer.main

from revshare.cli import app
from revshare.config import parse_catalog
from revshare.engines.registry import build_engines
from revshare.engines.router import Router
from tests.support.paths import REPO

DOC = (REPO / "docs" / "DEPLOY.md").read_text()


def _blocks(language: str) -> list[str]:
    """The fenced blocks of one language ("" for a plain fence), in order."""
    blocks: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for raw in DOC.splitlines():
        line = raw.strip()  # a block in a list item is indented
        if line.startswith("```"):
            if current is None:
                current = (line[3:].strip(), [])
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current[1].append(line)
    return ["\n".join(body) + "\n" for lang, body in blocks if lang == language]


def _parse_command(argv: list[str]) -> None:
    """Parse a `revshare …` command line as the CLI would, without running it."""
    command: Any = typer.main.get_command(app)
    args = argv[1:]
    while hasattr(command, "commands"):
        name, args = args[0], args[1:]
        assert name in command.commands, f"{argv}: no command {name!r}"
        command = command.commands[name]
    command.make_context(argv[0], list(args))  # raises a UsageError on an unknown option or bad value


def _command_lines() -> list[list[str]]:
    """Every `revshare …` command in the sh, ini, Procfile and Dockerfile blocks, as argv."""
    lines: list[list[str]] = []
    procfiles = ["".join(f"{line}\n" for line in block.splitlines() if re.match(r"^gw\d+: ", line))
                 for block in _blocks("")]  # the plain blocks are the diagram and the Procfile
    for block in _blocks("sh") + _blocks("ini") + procfiles + _blocks("dockerfile"):
        for line in block.splitlines():
            if line.startswith("CMD "):
                lines.append(json.loads(line[4:]))
                continue
            line = re.sub(r"^(ExecStart=|gw\d+: )", "", line).split(">")[0].replace("%i", "8001")  # as systemd
            words = shlex.split(line) if "revshare " in line else []
            if words and (words[0] == "revshare" or words[0].endswith("/bin/revshare")):
                lines.append(["revshare", *words[1:]])
    return lines


def test_the_catalog_parses_and_routes_the_model_across_both_engines() -> None:
    (catalog_toml,) = _blocks("toml")
    catalog = parse_catalog(tomllib.loads(catalog_toml))
    assert catalog.rate_limits.redis_url and not catalog.rate_limits.fail_open
    route = build_engines(catalog)["route:llama-3.1-8b"]
    assert isinstance(route, Router) and [m.engine.id for m in route.members] == ["vllm-a", "vllm-b"]


def test_every_command_line_is_one_the_cli_accepts() -> None:
    lines = _command_lines()
    assert sum(line[1] == "serve" for line in lines) == 5  # systemd, the Procfile's three, the image
    assert ["revshare", "log", "key", "--config", "/etc/revshare/revshare.toml"] in lines
    for line in lines:
        _parse_command(line)


def test_the_systemd_unit_reads_and_the_image_installs_an_extra_that_exists() -> None:
    unit = configparser.ConfigParser(interpolation=None)
    unit.read_string(_blocks("ini")[0])
    assert unit["Service"]["Restart"] == "always" and "revshare serve" in unit["Service"]["ExecStart"]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert "pip install --no-cache-dir '.[server]'" in _blocks("dockerfile")[0]
    assert any(dep.startswith("redis") for dep in extras["server"])
