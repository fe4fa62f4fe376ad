"""Logs as C2SP tlog-tiles: `revshare log export-tiles`, the gateway's tile routes, `revshare verify tiles`,
and tlog-scales (an independent tiles client) reading both."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tlog_scales import backend, reader, signing
from tlog_scales import tiles as scales_tiles
from tlog_scales import tlog as scales_tlog
from typer.testing import CliRunner

import tests.support.tlog_ledger as h
from revshare.cli import app
from revshare.config import parse_catalog
from revshare.ledger.store import Ledger
from revshare.logstore.integrator import integrate
from revshare.logstore.licensor_tokens import create_token
from revshare.logstore.tiles import export_tiles, read_tile
from revshare.logstore.tree_store import LogReader, NotInLogError
from revshare.tlog import leaf_data
from revshare.tlog.tiles import ENTRIES, Tile, decode_entry_bundle
from tests.support.servers import Running, running_gateway
from tests.support.statement_bundles import catalog_toml
from tests.support.stub_gateway import stub_catalog_dict

runner = CliRunner()
ORIGIN = "test-host/revshare/google"


class Host:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = tmp / "revshare.toml"
        self.config.write_text(catalog_toml(f"sqlite:///{tmp / 'ledger.db'}", tmp / "data"))
        self.ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}")
        self.ledger.migrate()

    def ok(self, *args: str) -> str:
        result = runner.invoke(app, [*args, "--config", str(self.config)])
        assert result.exit_code == 0, result.output
        return result.output


def verify(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", "tiles", *args], env=env)
    return result.exit_code, result.output


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    host = Host(tmp_path)
    h.fill(host.ledger, 1, 300)
    host.ok("log", "integrate")
    (tmp_path / "host.vkey").write_text(host.ok("log", "key"))
    yield host
    host.ledger.close()


def test_export_tiles_is_verified_by_revshare_and_by_tlog_scales(host: Host) -> None:
    tiles, vkey = host.tmp / "tiles", str(host.tmp / "host.vkey")
    assert "google: size 300, 5 tiles written, 0 full tiles kept" in host.ok(
        "log", "export-tiles", "--log", "google", "--out", str(tiles))
    assert sorted(str(p.relative_to(tiles)) for p in tiles.rglob("*") if p.is_file()) == [
        "checkpoint", "tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/44"]
    code, out = verify(str(tiles), "--key", vkey)
    assert code == 0 and f"OK: {ORIGIN} size 300" in out and "5 tiles rebuild it" in out, out
    code, out = verify(str(tiles), "--key", vkey, "--leaf", "7", "--leaf", "299")
    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [json.loads(x["data"])["record_id"] for x in lines] == ["rec_t00000008", "rec_t00000300"]
    # tlog-scales, with its own tile client and verifiers, reads the same folder.
    scales = reader.TilesReader(backend.LocalBackend(tiles))
    cp = scales.get_checkpoint()
    cp.verify(signing.Vkey.from_string((host.tmp / "host.vkey").read_text().strip()))
    assert (cp.origin, cp.size, scales.calculate_root_hash()) == (ORIGIN, 300, cp.root_hash)
    leaf = scales.get_entry(123)
    scales.get_inclusion_proof(123, 300).check(scales_tiles.leaf_hash(leaf), cp.root_hash)
    assert json.loads(leaf)["record_id"] == "rec_t00000124"


def test_a_second_export_keeps_full_tiles_and_proves_the_log_grew_consistently(host: Host) -> None:
    tiles, vkey = host.tmp / "tiles", str(host.tmp / "host.vkey")
    host.ok("log", "export-tiles", "--log", "google", "--out", str(tiles))
    (host.tmp / "old.checkpoint").write_bytes((tiles / "checkpoint").read_bytes())
    h.fill(host.ledger, 301, 600)
    host.ok("log", "integrate")
    assert "size 600, 5 tiles written, 2 full tiles kept" in host.ok(
        "log", "export-tiles", "--log", "google", "--out", str(tiles))
    assert not (tiles / "tile/0/001.p").exists() and (tiles / "tile/0/002.p/88").is_file()
    code, out = verify(str(tiles), "--key", vkey, "--previous", str(host.tmp / "old.checkpoint"))
    assert code == 0 and "extends" in out, out
    # The old checkpoint, read from the new tiles (its partial tiles are gone: prefixes of full ones).
    code, out = verify(str(tiles), "--key", vkey, "--checkpoint", str(host.tmp / "old.checkpoint"), "--leaf", "299")
    assert code == 0 and "size 300" in out, out


def test_verify_tiles_names_a_changed_tile(host: Host) -> None:
    tiles, vkey = host.tmp / "tiles", str(host.tmp / "host.vkey")
    export_tiles(host.ledger, "google", tiles)
    bundle = tiles / "tile/entries/000"
    data = bundle.read_bytes()
    bundle.write_bytes(data.replace(b'"prompt_tokens":11', b'"prompt_tokens":12', 1))
    code, out = verify(str(tiles), "--key", vkey)
    assert code == 1 and "FAILED" in out and "RootMismatchError" in out, out
    bundle.write_bytes(data)
    hashes = tiles / "tile/0/000"
    hashes.write_bytes(bytes(32) + hashes.read_bytes()[32:])
    code, out = verify(str(tiles), "--key", vkey)
    assert code == 1 and "tile/0/000 disagrees" in out, out
    code, out = verify(str(tiles), "--key", vkey, "--leaf", "3")  # its proof leads elsewhere
    assert code == 1 and "RootMismatchError" in out, out
    (hashes).unlink()
    code, out = verify(str(tiles), "--key", vkey)
    assert code == 1 and "tile/0/000 is missing" in out, out
    code, out = verify(str(host.tmp / "nowhere"), "--key", vkey)
    assert code == 1 and "neither a folder nor an http(s) URL" in out, out


def test_tiles_are_read_up_to_the_newest_checkpoint_only(host: Host) -> None:
    assert len(read_tile(host.ledger, "google", Tile(0, 0))) == 256 * 32
    entries = decode_entry_bundle(read_tile(host.ledger, "google", Tile(ENTRIES, 1, 44)), 44)
    assert [json.loads(e)["seq"] for e in entries][-1] == 300
    assert len(read_tile(host.ledger, "google", Tile(0, 1, 10))) == 320  # an older, narrower partial
    for beyond in (Tile(0, 1), Tile(0, 1, 45), Tile(1, 0, 2), Tile(ENTRIES, 2, 1)):
        with pytest.raises(NotInLogError, match="beyond the newest checkpoint"):
            read_tile(host.ledger, "google", beyond)
    h.fill(host.ledger, 301, 320)  # in the ledger, not yet signed
    with pytest.raises(NotInLogError):
        read_tile(host.ledger, "google", Tile(0, 1, 60))
    code = runner.invoke(app, ["log", "export-tiles", "--log", "nobody", "--out", str(host.tmp / "t"),
                               "--config", str(host.config)])
    assert code.exit_code == 1 and "no log 'nobody'" in code.output


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[Running, str]]:
    raw = stub_catalog_dict("http://127.0.0.1:9/v1")
    raw["server"]["data_dir"] = str(tmp_path / "data")
    catalog = parse_catalog(raw)
    with running_gateway(catalog, f"sqlite:///{tmp_path / 'gw.db'}") as gw:
        h.fill(gw.ledger, 1, 600)
        integrate(gw.ledger, catalog)
        yield gw, create_token(gw.ledger, "google", "tiles")[1]


def test_the_gateway_serves_tiles_that_tlog_scales_and_verify_read(gateway: tuple[Running, str],
                                                                   tmp_path: Path) -> None:
    gw, token = gateway
    base = f"{gw.url}/v1/log/google"
    auth = {"Authorization": f"Bearer {token}"}
    full = httpx.get(f"{base}/tile/0/001", headers=auth)
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert full.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert full.headers["content-type"] == "application/octet-stream"
    partial = httpx.get(f"{base}/tile/entries/002.p/88", headers=auth)
    assert partial.status_code == 200 and partial.headers["cache-control"] == "private, max-age=5"
    checkpoint = httpx.get(f"{base}/checkpoint", headers=auth)
    assert checkpoint.headers["cache-control"] == "private, max-age=5"
    assert checkpoint.text == LogReader(gw.ledger).latest_checkpoint("google")
    for path, status, error in (("tile/0/002", 404, "not_in_log"), ("tile/0/2", 400, "invalid_value"),
                                ("tile/0/002.p/89", 404, "not_in_log")):
        got = httpx.get(f"{base}/{path}", headers=auth)
        assert (got.status_code, got.json()["error"]["code"]) == (status, error), got.text
    assert httpx.get(f"{base}/tile/0/000").status_code == 401
    assert httpx.get(f"{gw.url}/v1/log/_host/tile/0/000", headers=auth).status_code == 403
    # tlog-scales' own HTTP tile client, with the licensor's token.
    http = backend.HttpBackend(base)
    http.session.headers.update(auth)
    scales = reader.TilesReader(http)
    cp = scales.get_checkpoint()
    assert scales.calculate_root_hash() == cp.root_hash and cp.size == 600
    scales.get_inclusion_proof(599, 600).check(scales_tiles.leaf_hash(scales.get_entry(599)), cp.root_hash)
    (tmp_path / "host.vkey").write_text(httpx.get(f"{gw.url}/v1/log/vkey").text)
    code, out = verify(base, "--key", str(tmp_path / "host.vkey"), env={"REVSHARE_LICENSOR_TOKEN": token})
    assert code == 0 and "size 600" in out and "7 tiles rebuild it" in out, out
    code, out = verify(base, "--key", str(tmp_path / "host.vkey"), env={"REVSHARE_LICENSOR_TOKEN": ""})
    assert code == 1 and "HTTP 401" in out, out


def test_tlog_scales_proves_from_our_tiles_what_our_tlog_proof_receipt_says(host: Host) -> None:
    """tlog-scales' own `tlog-tiles gen-proof`, reading our exported tiles, writes our receipt's C2SP
    tlog-proof (less the `extra` line carrying the record), and its verifiers accept our receipt."""
    tiles = host.tmp / "tiles"
    export_tiles(host.ledger, "google", tiles)
    reader_ = LogReader(host.ledger)
    receipt = reader_.receipt("google", reader_.leaves("google", 123, 124)[0].seq)
    theirs = subprocess.run([str(Path(sys.executable).parent / "tlog-tiles"), "gen-proof", str(tiles), "123"],
                            capture_output=True, text=True, check=True).stdout
    ours = receipt.to_tlog_proof()
    assert theirs == "".join(line for line in ours.splitlines(keepends=True) if not line.startswith("extra "))
    cp = scales_tlog.Checkpoint.from_text(receipt.checkpoint)
    cp.verify(signing.Vkey.from_string((host.tmp / "host.vkey").read_text().strip()))
    scales_tlog.InclusionProof(receipt.index, cp.size, list(receipt.proof)).check(
        scales_tiles.leaf_hash(leaf_data(receipt.record)), cp.root_hash)
