"""C2SP signed notes, against the golang.org/x/mod/sumdb/note test vectors (note_test.go)."""

from __future__ import annotations

import pytest

from revshare.tlog import (
    HostKey,
    InvalidSignatureError,
    KeyIdMismatchError,
    MalformedKeyError,
    MalformedNoteError,
    NoteError,
    UnknownKeyError,
    UnsupportedKeyTypeError,
    Verifier,
    open_note,
    parse_note,
    sign_note,
)

# From golang.org/x/mod sumdb/note/note_test.go (BSD-style licence).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"


def test_sign_known_answer() -> None:
    signer = HostKey.from_text(PETER_SKEY)
    assert signer.verifier_text() == PETER_VKEY
    assert signer.to_text() == PETER_SKEY
    assert sign_note(TEXT, signer) == TEXT + "\n" + PETER_SIG
    assert signer.sign_note(TEXT) == TEXT + "\n" + PETER_SIG


def test_verifier_round_trip() -> None:
    v = Verifier.from_text(PETER_VKEY)
    assert (v.name, v.key_id.hex()) == ("PeterNeumann", "c74f20a3")
    assert v.to_text() == PETER_VKEY


def test_open_one_known_one_witness() -> None:
    assert open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, PETER_VKEY) == TEXT
    assert open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY]) == TEXT
    assert open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, Verifier.from_text(ENOCH_VKEY)) == TEXT


def test_parse_note() -> None:
    note = parse_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert note.text == TEXT
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]
    assert "".join(s.to_line() for s in note.signatures) == PETER_SIG + ENOCH_SIG


def test_unknown_key() -> None:
    with pytest.raises(UnknownKeyError, match="EnochRoot\\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_SIG, PETER_VKEY)
    with pytest.raises(UnknownKeyError):
        open_note(TEXT + "\n" + PETER_SIG, [])


def test_wrong_key_same_name() -> None:
    other = HostKey.generate("PeterNeumann")
    with pytest.raises(UnknownKeyError):  # another key id: not a key we trust
        open_note(TEXT + "\n" + PETER_SIG, other.verifier())


def test_invalid_signature() -> None:
    bad = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(
        InvalidSignatureError, match="invalid signature for key PeterNeumann\\+c74f20a3"
    ):
        open_note(bad, PETER_VKEY)


def test_tampered_text() -> None:
    with pytest.raises(InvalidSignatureError):
        open_note(TEXT.replace("answer", "Answer") + "\n" + PETER_SIG, PETER_VKEY)


def test_flipped_bit_in_signature() -> None:
    note = parse_note(TEXT + "\n" + PETER_SIG)
    sig = note.signatures[0]
    flipped = type(sig)(sig.name, sig.key_id, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    with pytest.raises(InvalidSignatureError):
        open_note(TEXT + "\n" + flipped.to_line(), PETER_VKEY)


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name " + PETER_SIG.split(" ")[2].rstrip("\n"),
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("—", "-"),
        TEXT + "\n" + "— PeterNeumann AAAA\n",  # too short to hold key id and signature
        TEXT + "\n" + "— PeterNeumann not*base64\n",
        TEXT + "\n" + PETER_SIG * 101,
        "\ud800" + TEXT + "\n" + PETER_SIG,
    ],
)
def test_malformed_notes(msg: str) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(msg, PETER_VKEY)


def test_sign_refuses_text_without_newline() -> None:
    with pytest.raises(MalformedNoteError):
        sign_note("abc", HostKey.from_text(PETER_SKEY))
    with pytest.raises(MalformedNoteError):
        sign_note(TEXT)


def _manglings(key: str) -> list[str]:
    """As note_test.go: every proper substring, and every one-byte increment."""
    out = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)}
    out.discard(key)
    for i in range(len(key)):
        out.add(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])
    return sorted(out)


def test_mangled_verifier_keys_are_refused() -> None:
    for bad in _manglings(PETER_VKEY):
        with pytest.raises(NoteError):
            Verifier.from_text(bad)


def test_mangled_signer_keys_are_refused() -> None:
    for bad in _manglings(PETER_SKEY):
        with pytest.raises(NoteError):
            HostKey.from_text(bad)


def test_specific_key_errors() -> None:
    # note_test.go: wrong length key and unknown algorithm, each with an adjusted key hash.
    with pytest.raises(MalformedKeyError):
        Verifier.from_text(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(UnsupportedKeyTypeError):
        Verifier.from_text("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(KeyIdMismatchError):
        Verifier.from_text(PETER_VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(KeyIdMismatchError):
        HostKey.from_text(PETER_SKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(MalformedKeyError, match="ambiguous"):
        open_note(
            TEXT + "\n" + PETER_SIG,
            [
                Verifier.from_text(PETER_VKEY),
                Verifier("PeterNeumann", bytes.fromhex("c74f20a3"), b"\0" * 32),
            ],
        )
