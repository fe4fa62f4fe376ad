"""revshare reads tiles written by tlog-scales (an independent C2SP tlog-tiles writer): `revshare verify tiles`
rebuilds its signed root, proves its leaves and its growth from the tiles alone; and holds a tiles
checkpoint to a witness policy."""

from __future__ import annotations

from pathlib import Path

from tlog_scales import signing, writer
from typer.testing import CliRunner

from revshare.cli import app
from revshare.tlog import Checkpoint, HostKey, MemoryStore, MerkleTree, hash_leaf
from revshare.tlog.cosignature import WitnessKey
from revshare.tlog.tiles import ENTRIES, encode_entry_bundle, tiles_for_size
from revshare.verify.log import open_checkpoint
from revshare.verify.tiles import open_tiles, prove_leaves, read_checkpoint, verify_tiles

runner = CliRunner()
ORIGIN = "scales.example/log"


def test_a_log_written_by_tlog_scales_verifies_from_its_tiles(tmp_path: Path) -> None:
    folder = tmp_path / "tiles"
    log = writer.TilesWriter.create(folder, ORIGIN)
    signer = signing.PlainEd25519Signer(ORIGIN, bytes([3]) * 32)
    vkey = str(signer.vkey.serialize())  # type: ignore[no-untyped-call]
    (tmp_path / "scales.vkey").write_text(vkey + "\n")
    for size in (3, 300, 517):  # into a second full tile, with a partial one after it
        for i in range(log.size, size):
            log.add_leaf(f"scales leaf {i}".encode())
        log.commit([signer])
        if size == 300:
            (tmp_path / "300.checkpoint").write_bytes((folder / "checkpoint").read_bytes())
    fetch = open_tiles(str(folder))
    note = read_checkpoint(fetch)
    verdict = verify_tiles(fetch, note, vkey)
    assert (verdict.checkpoint.size, verdict.tiles) == (517, 7)
    assert prove_leaves(fetch, open_checkpoint(note, vkey), [0, 256, 516]) == [
        b"scales leaf 0", b"scales leaf 256", b"scales leaf 516"]
    result = runner.invoke(app, ["verify", "tiles", str(folder), "--key", str(tmp_path / "scales.vkey"),
                                 "--previous", str(tmp_path / "300.checkpoint")])
    assert result.exit_code == 0 and f"OK: {ORIGIN} size 517" in result.output and "extends" in result.output, \
        result.output


def test_verify_tiles_holds_the_checkpoint_to_a_witness_policy(tmp_path: Path) -> None:
    host = HostKey("tiles.example/log", bytes(range(32)))
    witness = WitnessKey("witness.example/w1", bytes([7]) * 32)
    other = WitnessKey("witness.example/w2", bytes([8]) * 32)
    leaves = [b"leaf %d" % i for i in range(300)]
    store = MemoryStore()
    tree = MerkleTree(store)
    tree.append_many(hash_leaf(x) for x in leaves)
    for tile in tiles_for_size(300):
        path = tmp_path / "tiles" / tile.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if tile.level == ENTRIES:
            path.write_bytes(encode_entry_bundle(leaves[slice(*tile.entry_range())]))
        else:
            nodes = store.get_many(tile.node_keys())
            path.write_bytes(b"".join(nodes[k] for k in tile.node_keys()))
    body = Checkpoint("tiles.example/log/l", 300, tree.root()).to_text()
    (tmp_path / "tiles" / "checkpoint").write_text(host.sign_note(body) + witness.cosign(body).to_line())
    (tmp_path / "host.vkey").write_text(host.verifier_text() + "\n")
    for name, key in (("w1", witness), ("w2", other)):
        (tmp_path / f"{name}.policy").write_text(f"witness {name} {key.verifier_text()}\nquorum {name}\n")
    args = ["verify", "tiles", str(tmp_path / "tiles"), "--key", str(tmp_path / "host.vkey"), "--policy"]
    met = runner.invoke(app, [*args, str(tmp_path / "w1.policy")])
    assert met.exit_code == 0 and "cosigned by w1: quorum w1 met" in met.output, met.output
    short = runner.invoke(app, [*args, str(tmp_path / "w2.policy")])
    assert short.exit_code == 1 and "QuorumNotMetError" in short.output and "w2" in short.output, short.output
