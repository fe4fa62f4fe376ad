"""`revshare witness init` and `revshare witness serve`, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from revshare.cli import app
from revshare.tlog.cosignature import CosignatureVerifier, verify_cosignatures
from tests.support.servers import free_port
from tests.support.witness import HOST_KEY, ORIGIN, WITNESS_NAME, Log, witness_toml

runner = CliRunner()


def test_init_prints_the_vkey_last_and_never_replaces_a_key(tmp_path: Path) -> None:
    folder = tmp_path / "witness"
    done = runner.invoke(app, ["witness", "init", "--dir", str(folder), "--name", WITNESS_NAME])
    assert done.exit_code == 0, done.output
    vkey = done.output.strip().splitlines()[-1]
    assert CosignatureVerifier.from_text(vkey).name == WITNESS_NAME
    assert (folder / "witness.vkey").read_text() == vkey + "\n"
    assert "witness.toml" in done.output
    again = runner.invoke(app, ["witness", "init", "--dir", str(folder), "--name", WITNESS_NAME])
    assert again.exit_code == 1 and "already exists" in again.output
    assert (folder / "witness.vkey").read_text() == vkey + "\n"


def test_init_refuses_a_bad_name(tmp_path: Path) -> None:
    done = runner.invoke(app, ["witness", "init", "--dir", str(tmp_path / "w"), "--name", "two words"])
    assert done.exit_code == 1 and "witness name 'two words'" in done.output


def test_serve_refuses_a_folder_that_is_not_a_witness(tmp_path: Path) -> None:
    done = runner.invoke(app, ["witness", "serve", "--dir", str(tmp_path / "nothing")])
    assert done.exit_code == 1 and "not a witness folder" in done.output
    assert "Traceback" not in done.output


def test_serve_cosigns_over_a_real_socket(tmp_path: Path) -> None:
    folder = tmp_path / "witness"
    assert runner.invoke(app, ["witness", "init", "--dir", str(folder), "--name", WITNESS_NAME]).exit_code == 0
    (folder / "witness.toml").write_text(witness_toml((ORIGIN, HOST_KEY.verifier_text())))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "revshare.cli", "witness", "serve", "--dir", str(folder),
                             "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/checkpoint/x", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the witness did not start"
                time.sleep(0.1)
        log = Log().append(3)
        reply = httpx.post(url + "/add-checkpoint", content=log.body(0), timeout=30)
        assert reply.status_code == 200, reply.text
        vkey = (folder / "witness.vkey").read_text().strip()
        assert verify_cosignatures(log.note() + reply.text, [vkey])
        served = httpx.get(f"{url}/checkpoint/{ORIGIN}", timeout=30)
        assert served.status_code == 200 and verify_cosignatures(served.text, [vkey])
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert f"witness {WITNESS_NAME} cosigns 1 log(s)" in output
