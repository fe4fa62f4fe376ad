"""The witness folder: what init writes, and each fault of witness.toml named with its file and entry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revshare.tlog import HostKey
from revshare.tlog.cosignature import CosignatureVerifier, WitnessKey
from revshare.witness import WitnessConfigError, init_home, load_home, parse_logs
from revshare.witness.home import CONFIG_TEMPLATE
from tests.support.witness import HOST_KEY, ORIGIN, WITNESS_NAME, witness_toml

VKEY = HOST_KEY.verifier_text()


def test_init_writes_an_owner_only_key_its_vkey_and_a_template(tmp_path: Path) -> None:
    path = tmp_path / "w"
    key = init_home(path, WITNESS_NAME)
    assert (path / "witness.key").stat().st_mode & 0o777 == 0o600
    assert path.stat().st_mode & 0o777 == 0o700
    assert WitnessKey.load(path / "witness.key") == key
    assert CosignatureVerifier.from_text((path / "witness.vkey").read_text().strip()) == key.verifier()
    assert (path / "witness.toml").read_text() == CONFIG_TEMPLATE
    home = load_home(path)
    assert (home.key, dict(home.logs), home.database) == (key, {}, path / "witness.db")


def test_init_never_replaces_a_key_and_keeps_the_logs(tmp_path: Path) -> None:
    path = tmp_path / "w"
    key = init_home(path, WITNESS_NAME)
    (path / "witness.toml").write_text(witness_toml((ORIGIN, VKEY)))
    with pytest.raises(WitnessConfigError, match="already exists"):
        init_home(path, WITNESS_NAME)
    assert load_home(path).key == key
    assert list(load_home(path).logs) == [ORIGIN]


def test_init_refuses_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(WitnessConfigError, match="witness name 'a b'"):
        init_home(tmp_path / "w", "a b")
    assert not (tmp_path / "w").exists()


def test_load_refuses_a_missing_folder_key_or_config(tmp_path: Path) -> None:
    with pytest.raises(WitnessConfigError, match="not a witness folder"):
        load_home(tmp_path / "nowhere")
    (tmp_path / "w").mkdir()
    with pytest.raises(WitnessConfigError, match=r"witness\.key is missing"):
        load_home(tmp_path / "w")
    init_home(tmp_path / "x", WITNESS_NAME)
    (tmp_path / "x" / "witness.toml").unlink()
    with pytest.raises(WitnessConfigError, match=r"witness\.toml is missing"):
        load_home(tmp_path / "x")


def test_load_refuses_a_key_others_can_read(tmp_path: Path) -> None:
    init_home(tmp_path / "w", WITNESS_NAME)
    os.chmod(tmp_path / "w" / "witness.key", 0o644)
    with pytest.raises(WitnessConfigError, match="mode 644, want 600"):
        load_home(tmp_path / "w")


def test_logs_with_one_key_or_several() -> None:
    other = HostKey("revshare.example/revshare", bytes([7]) * 32).verifier_text()
    text = witness_toml((ORIGIN, VKEY)) + f'[[log]]\norigin = "b"\nvkey = ["{VKEY}", "{other}"]\n'
    logs = parse_logs(text)
    assert [len(keys) for keys in logs.values()] == [1, 2]
    assert logs[ORIGIN][0].to_text() == VKEY


@pytest.mark.parametrize(("text", "says"), [
    ("[[log]\n", "not TOML"),
    ("name = 'w'\n", "unknown table or key 'name'"),
    ("log = 1\n", "array of tables"),
    ("log = [1]\n", "[[log]] #1: want a table"),
    (f"[[log]]\norigin = 'a'\nvkey = '{VKEY}'\nurl = 'x'\n", "[[log]] #1: unknown field 'url'"),
    (f"[[log]]\nvkey = '{VKEY}'\n", "origin: want"),
    (f"[[log]]\norigin = ''\nvkey = '{VKEY}'\n", "origin: want"),
    (f"[[log]]\norigin = \"a\\nb\"\nvkey = '{VKEY}'\n", "origin: want"),
    ("[[log]]\norigin = 'a'\n", "vkey: want"),
    ("[[log]]\norigin = 'a'\nvkey = []\n", "vkey: want"),
    ("[[log]]\norigin = 'a'\nvkey = [1]\n", "vkey: want"),
    ("[[log]]\norigin = 'a'\nvkey = 'nonsense'\n", "[[log]] #1 (a): vkey 'nonsense'"),
    (f"[[log]]\norigin = 'a'\nvkey = '{WitnessKey(WITNESS_NAME, bytes(32)).verifier_text()}'\n", "0x04"),
    (f"[[log]]\norigin = 'a'\nvkey = '{VKEY}'\n[[log]]\norigin = 'a'\nvkey = '{VKEY}'\n",
     "[[log]] #2: origin 'a' is listed twice"),
])
def test_config_faults_are_named(text: str, says: str) -> None:
    with pytest.raises(WitnessConfigError) as caught:
        parse_logs(text, "w/witness.toml")
    assert str(caught.value).startswith("w/witness.toml: ") and says in str(caught.value), str(caught.value)


def test_the_template_lists_no_log() -> None:
    assert parse_logs(CONFIG_TEMPLATE) == {}
