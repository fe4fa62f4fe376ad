"""HostKey: generation, the key file, and Ed25519 signatures over canonical JSON."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revshare.tlog import (
    HostKey,
    InsecureKeyFileError,
    InvalidSignatureError,
    MalformedKeyError,
    open_note,
    verify_json,
)

STATEMENT = {
    "licensor": "acme",
    "period": "2025-01",
    "amount": "12.34",
    "first_seq": 1,
    "last_seq": 99,
}


def test_generate_round_trips_through_text() -> None:
    key = HostKey.generate("revshare.example/log")
    again = HostKey.from_text(key.to_text())
    assert again == key
    assert again.verifier_text() == key.verifier_text()
    assert key.seed.hex() not in repr(key)


def test_save_and_load(tmp_path: Path) -> None:
    key = HostKey.generate("log")
    path = tmp_path / "host.key"
    key.save(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert HostKey.load(path) == key
    with pytest.raises(FileExistsError):
        key.save(path)
    HostKey.generate("log").save(path, overwrite=True)
    assert HostKey.load(path) != key


def test_load_refuses_a_readable_key_file(tmp_path: Path) -> None:
    path = tmp_path / "host.key"
    HostKey.generate("log").save(path)
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeyFileError, match="mode 644, want 600"):
        HostKey.load(path)


def test_sign_and_verify_json() -> None:
    key = HostKey.generate("log")
    sig = key.sign_json(STATEMENT)
    verify_json(STATEMENT, sig, key.verifier_text())
    # Key order does not matter: the signature is over the RFC 8785 bytes.
    verify_json(dict(reversed(list(STATEMENT.items()))), sig, key.verifier())


def test_tampered_json_fails() -> None:
    key = HostKey.generate("log")
    sig = key.sign_json(STATEMENT)
    with pytest.raises(InvalidSignatureError):
        verify_json({**STATEMENT, "amount": "12.35"}, sig, key.verifier())


def test_json_signature_with_wrong_key_or_garbage_fails() -> None:
    key, other = HostKey.generate("log"), HostKey.generate("log")
    sig = key.sign_json(STATEMENT)
    with pytest.raises(InvalidSignatureError):
        verify_json(STATEMENT, sig, other.verifier())
    with pytest.raises(InvalidSignatureError):
        verify_json(STATEMENT, "not base64!", key.verifier())


def test_note_round_trip() -> None:
    key = HostKey.generate("log")
    text = "log\n3\n" + "A" * 43 + "=\n"
    assert open_note(key.sign_note(text), key.verifier_text()) == text


@pytest.mark.parametrize(
    ("name", "seed"), [("bad name", b"\0" * 32), ("a+b", b"\0" * 32), ("ok", b"\0" * 31)]
)
def test_bad_keys(name: str, seed: bytes) -> None:
    with pytest.raises(MalformedKeyError):
        HostKey(name, seed)
