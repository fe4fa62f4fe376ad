"""The host's side of the catalog: `[[witnesses]]` and `[log] witness_quorum`, refused with the file and the field.

The config room may not import revshare.tlog, so a witness's vkey is checked there by hand; these tests
hold that check to `CosignatureVerifier.from_text`, which the host uses to verify cosignatures.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revshare.config import ConfigError, load_catalog
from revshare.config.sections import _witness_vkey
from revshare.tlog import HostKey, TlogError
from revshare.tlog.cosignature import CosignatureVerifier, WitnessKey
from tests.support.catalogs import gateway_catalog_toml

WITNESS = WitnessKey("witness.licensor.example/w1", bytes(range(32)))
OTHER = WitnessKey("witness.auditor.example/w2", bytes(range(1, 33)))


def catalog(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "revshare.toml"
    path.write_text(gateway_catalog_toml("sqlite:///ledger.db", tmp_path / "data") + extra)
    return path


def witness(name: str, url: str, vkey: str) -> str:
    return f'\n[[witnesses]]\nname = "{name}"\nurl = "{url}"\nvkey = "{vkey}"\n'


def test_a_catalog_names_its_witnesses_and_a_quorum(tmp_path: Path) -> None:
    loaded = load_catalog(catalog(tmp_path, witness("w1", "https://witness.licensor.example/", WITNESS.verifier_text())
                                  + witness("w2", "http://127.0.0.1:7380", OTHER.verifier_text())
                                  + "\n[log]\nwitness_quorum = 2\n"))
    assert [w.name for w in loaded.witnesses] == ["w1", "w2"]
    assert loaded.witnesses[0].url == "https://witness.licensor.example"  # the base URL, without its last slash
    assert loaded.witnesses[0].key == "witness.licensor.example/w1+" + WITNESS.key_id.hex()
    assert loaded.witnesses[1].timeout_s == 10.0 and loaded.log.witness_quorum == 2


@pytest.mark.parametrize(("extra", "line"), [
    (witness("w1", "https://w.example", HostKey("revshare.example/log", bytes(32)).verifier_text()),
     "witnesses[0] (name='w1').vkey: key algorithm 0x01 (0x01: a log's key, e.g. the host's, not a witness's): "
     "want 0x04, a witness's cosignature/v1 key"),
    (witness("w1", "https://w.example", WITNESS.verifier_text().replace("+" + WITNESS.key_id.hex(), "+00000000")),
     "witnesses[0] (name='w1').vkey: key id 00000000 is not that of this name and key"),
    (witness("w1", "https://w.example", "witness.example/w1"),
     "witnesses[0] (name='w1').vkey: want the witness's vkey, <name>+<hex key id>+<base64 key>"),
    (witness("w1", "witness.example", WITNESS.verifier_text()),
     "witnesses[0] (name='w1').url: want the witness's base URL, starting with http:// or https://"),
    (witness("w1", "https://a.example", WITNESS.verifier_text()) + witness("w1", "https://b.example",
                                                                           OTHER.verifier_text()),
     "witnesses[1] (name='w1'): duplicate id 'w1'"),
    (witness("w1", "https://a.example", WITNESS.verifier_text()) + witness("w2", "https://b.example",
                                                                           WITNESS.verifier_text()),
     "witnesses[1] (name='w2').vkey: the same key as witness 'w1'"),
    (witness("w1", "https://a.example", WITNESS.verifier_text()) + "\n[log]\nwitness_quorum = 2\n",
     "log.witness_quorum: 2 cosignatures wanted, but only 1 [[witnesses]] are named"),
    ("\n[log]\nwitness_quorum = 0\n", "log.witness_quorum: Input should be greater than or equal to 1"),
    (witness("w1", "https://a.example", WITNESS.verifier_text()) + 'logs = ["google", "gogle"]\n',
     "witnesses[0] (name='w1').logs: unknown log 'gogle' (the logs: _host, google)"),
], ids=["a-log-key", "mangled-key-id", "not-a-vkey", "no-scheme", "same-name", "same-key", "quorum-too-big",
        "quorum-zero", "unknown-log"])
def test_a_wrong_witness_entry_is_refused_naming_the_file_the_entry_and_the_field(
        tmp_path: Path, extra: str, line: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_catalog(catalog(tmp_path, extra))
    assert f"revshare.toml: {line}" in str(raised.value)


def _tlog_accepts(vkey: str) -> bool:
    try:
        CosignatureVerifier.from_text(vkey)
    except (TlogError, ValueError):
        return False
    return True


def _config_accepts(vkey: str) -> bool:
    try:
        _witness_vkey(vkey)
    except ValueError:
        return False
    return True


GOOD = WITNESS.verifier_text()
NAME, KEY_ID, B64 = GOOD.split("+", 2)
RAW = base64.b64decode(B64)


@pytest.mark.parametrize("vkey", [
    GOOD, OTHER.verifier_text(), HostKey("revshare.example/log", bytes(32)).verifier_text(),
    f"{NAME}+{KEY_ID.upper()}+{B64}", f"{NAME}+{KEY_ID}+{B64[:-4]}", f"{NAME}+{KEY_ID}+{B64}=", f"{NAME}+{KEY_ID}",
    f"+{KEY_ID}+{B64}", f"wit ness+{KEY_ID}+{B64}", f"{NAME}+{KEY_ID[:7]}+{B64}", f"{NAME}+{KEY_ID}+",
    f"{NAME}+{KEY_ID}+{base64.b64encode(RAW + b'x').decode()}", f"{NAME}+{KEY_ID}+{base64.b64encode(bytes([6]) + RAW[1:]).decode()}",
    f"{NAME}x+{KEY_ID}+{B64}", f"{NAME}+{KEY_ID}+{B64}+x", f"{NAME}+zzzzzzzz+{B64}",
])
def test_the_config_reads_a_witness_vkey_as_the_tlog_does(vkey: str) -> None:
    assert _config_accepts(vkey) == _tlog_accepts(vkey)


@given(st.text(alphabet=st.sampled_from(sorted(set(GOOD + " \t/+=abcdefg0123456789"))), max_size=8),
       st.integers(min_value=0, max_value=len(GOOD)), st.integers(min_value=0, max_value=8))
def test_any_mangled_vkey_is_accepted_by_both_or_by_neither(insert: str, at: int, cut: int) -> None:
    vkey = (GOOD[:at] + insert + GOOD[at + cut:]).strip()
    assert _config_accepts(vkey) == _tlog_accepts(vkey)
