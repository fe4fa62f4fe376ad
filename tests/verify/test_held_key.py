"""Verifying with the key the licensor holds, never with the one that came in the bundle (issue 11, item 4).

A bundle's host.vkey is the host's word for its own key: checking the bundle against it proves
only that the bundle agrees with itself. `export statement-bundle` must not suggest it, and
`verify statement` warns (on stderr, and still verifies) when it is given a key file inside the
directory it verifies.
"""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from revshare.cli import app
from tests.support.settled_bundles import Settled

runner = CliRunner()


def test_export_suggests_the_key_the_licensor_holds(settled_bundles: Settled) -> None:
    out = settled_bundles.export_output
    hint = [line for line in out.splitlines() if "revshare verify statement" in line]
    assert len(hint) == 1, out
    assert "host.vkey" not in hint[0].split("--key", 1)[1].split()[0], hint[0]
    assert "revshare log key" in hint[0], hint[0]


def test_verify_warns_when_the_key_is_a_file_inside_the_bundle(settled_bundles: Settled) -> None:
    feb = settled_bundles.feb
    result = runner.invoke(app, ["verify", "statement", str(feb), "--key", str(feb / "host.vkey")])
    assert result.exit_code == 0, result.output
    assert "OK: statement-google-google-gemma-2026-02 verifies" in result.stdout
    warning = result.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: "), result.stderr
    assert "inside the bundle" in warning[0] and "revshare log key" in warning[0], warning[0]


def test_the_warning_sees_through_relative_paths_and_links(settled_bundles: Settled, tmp_path: Path) -> None:
    feb = settled_bundles.feb
    link = tmp_path / "my.vkey"
    link.symlink_to(feb / "host.vkey")
    for key in (str(link), os.path.relpath(feb / "host.vkey")):
        result = runner.invoke(app, ["verify", "statement", str(feb), "--key", key])
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith("warning: "), (key, result.stderr)


def test_no_warning_with_the_key_the_licensor_holds(settled_bundles: Settled) -> None:
    result = runner.invoke(app, ["verify", "statement", str(settled_bundles.feb), "--key", str(settled_bundles.vkey)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    text = settled_bundles.vkey.read_text().strip()  # the key given as its text, not a file: nothing to warn of
    result = runner.invoke(app, ["verify", "statement", str(settled_bundles.feb), "--key", text])
    assert result.exit_code == 0 and result.stderr == "", result.output
