"""`revshare serve` prints where its ledger is without the ledger's password (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from revshare.cli import app
from tests.support.databases import postgres_database
from tests.support.paths import REPO
from tests.support.servers import free_port


@pytest.mark.postgres
def test_the_banner_masks_the_database_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.append(app))
    config = tmp_path / "revshare.toml"
    config.write_text((REPO / "revshare.toml").read_text().replace(
        'host_name = "revshare-demo"', f'host_name = "revshare-demo"\ndata_dir = "{tmp_path / "data"}"'))
    with postgres_database() as url:
        # The test server trusts local connections: any password is accepted, and must never be shown.
        with_password = make_url(url).set(password="hunter2-secret").render_as_string(hide_password=False)
        monkeypatch.setenv("REVSHARE_DATABASE_URL", with_password)
        monkeypatch.setenv("REVSHARE_ADMIN_TOKEN", "rsa_banner_test")
        # A free port: serve refuses a port in use (a developer's `make run` may hold 8000).
        result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    assert started, "uvicorn.run was not reached"
    assert "hunter2-secret" not in result.output
    assert f"ledger {make_url(with_password).render_as_string(hide_password=True)}" in result.output
    assert ":***@" in result.output
