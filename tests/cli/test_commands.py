"""The `revshare` command, as an operator uses it (and as README.md and docs/CLI.md show it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from revshare.cli import app
from revshare.ledger.store import Ledger
from tests.support.paths import REPO
from tests.support.records import record
from tests.support.servers import free_port

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("REVSHARE_DATABASE_URL", url)
    monkeypatch.setenv("REVSHARE_CONFIG", str(REPO / "revshare.toml"))
    return {"url": url}


def test_keys_create_prints_the_key_once_as_the_last_line(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["keys", "create", "--customer", "acme", "--label", "ci"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"rsk_[A-Za-z0-9_-]{32}", secret)
    ledger = Ledger(env["url"])
    key = ledger.find_key(secret)
    assert key is not None and key.customer == "acme" and key.label == "ci"
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert secret not in listed.output
    assert json.loads(listed.output.splitlines()[0])["key_id"] == key.key_id
    assert runner.invoke(app, ["keys", "revoke", key.key_id]).exit_code == 0
    assert ledger.find_key(secret) is None
    again = runner.invoke(app, ["keys", "revoke", key.key_id])
    assert again.exit_code == 1 and "no live key" in again.output


def test_keys_create_for_an_unknown_customer_fails(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["keys", "create", "--customer", "nobody"])
    assert result.exit_code == 1
    assert "no customer named 'nobody'" in result.output and "known: demo, acme" in result.output


def test_usage_json_lines(env: dict[str, str]) -> None:
    ledger = Ledger(env["url"])
    ledger.migrate()
    ledger.append_now([record(1, "acme"), record(2, "demo")])
    result = runner.invoke(app, ["usage", "--json"])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["seq"] for r in rows] == [1, 2]
    for field in ("id", "seq", "customer", "model", "prompt_tokens", "completion_tokens", "outcome",
                  "amount", "currency", "price_version"):
        assert field in rows[0]
    assert rows[0]["amount"] == "0.000001234567"  # a string, never a float
    only = runner.invoke(app, ["usage", "--json", "--customer", "demo"])
    assert [json.loads(x)["customer"] for x in only.output.splitlines()] == ["demo"]
    table = runner.invoke(app, ["usage"])
    assert "2 usage record(s)" in table.output


def test_bad_catalog_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text((REPO / "revshare.toml").read_text().replace('engine = "local"', 'engine = "gpu9"'))
    for args in (["config", "check"], ["serve"], ["usage"]):
        result = runner.invoke(app, [*args, "--config", str(bad)])
        assert result.exit_code == 2, args
        assert f"{bad}: models[0] (id='gemma-3-270m').engine: unknown engine 'gpu9'" in result.output.replace("\n", "")


def test_config_check_ok() -> None:
    result = runner.invoke(app, ["config", "check", "--config", str(REPO / "revshare.toml")])
    assert result.exit_code == 0 and "ok: 1 engine(s), 1 model(s)" in result.output


@pytest.mark.engine
def test_serve_demo_prints_a_curl_line_and_sdk_snippet_that_work_as_printed(tmp_path: Path, model_path: str) -> None:
    port = free_port()
    catalog = tmp_path / "revshare.toml"
    catalog.write_text((REPO / "revshare.toml").read_text().replace("port = 8000", f"port = {port}"))
    env = {**os.environ, "REVSHARE_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}", "PYTHONUNBUFFERED": "1"}
    env.pop("REVSHARE_ADMIN_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "revshare.cli", "serve", "--config", str(catalog), "--demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        # uvicorn logs "Uvicorn running on" once the socket is bound (startup completes before that).
        while not any("Uvicorn running on" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        curl = next(line for line in lines if line.startswith("curl "))
        sdk = next(line for line in lines if ' -c "from openai import OpenAI' in line)
        assert sdk.startswith(sys.executable)  # the serving interpreter has the SDK: works as printed
        if shutil.which("curl"):
            out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60)
            reply = json.loads(out.stdout)
            assert reply["choices"][0]["message"]["content"] and reply["usage"]["completion_tokens"] > 0
        out = subprocess.run(["bash", "-c", sdk], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip(), out.stderr
        usage = runner.invoke(app, ["usage", "--json", "--config", str(catalog)], env={"REVSHARE_DATABASE_URL": env["REVSHARE_DATABASE_URL"]})
        rows = [json.loads(x) for x in usage.output.splitlines()]
        assert len(rows) == (2 if shutil.which("curl") else 1)
        assert all(r["customer"] == "demo" and r["outcome"] == "ok" and r["completion_tokens"] > 0 for r in rows)
        assert "admin token for this run" in "".join(lines)
        console = next(line for line in lines if line.startswith("console: ")).split()[1]
        page = httpx.get(console, follow_redirects=True, timeout=30)
        assert page.status_code == 200 and "<form" in page.text  # the console's login, as printed
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
