"""`revshare serve` checks its port before it opens the ledger or loads a model (issue 11): a port
in use is one error line and exit status 1, at once, not a bind failure after the model loaded."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revshare.cli import app
from tests.support.paths import REPO


def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "revshare.toml"
    path.write_text((REPO / "revshare.toml").read_text().replace(
        'host_name = "revshare-demo"', f'host_name = "revshare-demo"\ndata_dir = "{tmp_path / "data"}"'))
    return path


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.append(app))
    monkeypatch.setenv("REVSHARE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--config", str(catalog(tmp_path)), "--port", str(port), "--demo"])
    assert result.exit_code == 1, result.output
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.output
    assert "--port" in result.output
    assert not started and not (tmp_path / "ledger.db").exists()  # no ledger opened, no demo key, no model


def test_a_free_port_goes_on_to_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.append(kwargs))
    monkeypatch.setenv("REVSHARE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(app, ["serve", "--config", str(catalog(tmp_path)), "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert started and started[0]["port"] == port
    assert "gemma-3-270m is the bundled Gemma 3 270M, a small base model: it continues text" in result.output
    assert "A request without max_tokens runs with max_tokens 64; more than 256 is refused." in result.output
