"""C2SP tlog-cosignature, cosignature/v1: the message, the line, the keys, and every refusal by name."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from revshare.tlog import Checkpoint, HostKey, InvalidSignatureError, Verifier, open_note, parse_note
from revshare.tlog.cosignature import (
    COSIGNATURE_SIZE,
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureVerifier,
    DuplicateCosignatureError,
    FutureCosignatureError,
    InvalidCosignatureError,
    MalformedCosignatureError,
    UnsupportedCosignatureKeyError,
    WitnessKey,
    cosigned_message,
    verify_cosignatures,
)
from revshare.tlog.errors import (
    InsecureKeyFileError,
    KeyIdMismatchError,
    MalformedKeyError,
    NoteError,
    UnsupportedKeyTypeError,
)
from revshare.tlog.note import Signature

SEED = bytes(range(32))  # an example, never a real key
NAME = "witness.example/w1"
TEXT = Checkpoint("example.com/behind-the-sofa", 20852163,
                  base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")).to_text()
T = 1679315147


@pytest.fixture
def key() -> WitnessKey:
    return WitnessKey(NAME, SEED)


@pytest.fixture
def log_key() -> HostKey:
    return HostKey("example.com/behind-the-sofa", bytes(range(32, 64)))


def cosigned_note(log_key: HostKey, *lines: str) -> str:
    return log_key.sign_note(TEXT) + "".join(lines)


# --- the message and the line, against the spec's text -------------------------------------


def test_message_is_the_spec_layout() -> None:
    assert cosigned_message(TEXT, T) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
    assert cosigned_message(TEXT, 0).startswith(b"cosignature/v1\ntime 0\n")


def test_known_answer_built_by_hand(key: WitnessKey) -> None:
    # Independent of the module: key id and signature computed here from the spec's definitions.
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    want_id = hashlib.sha256(NAME.encode() + b"\n\x04" + public).digest()[:4]
    message = f"cosignature/v1\ntime {T}\n{TEXT}".encode()
    want_sig = Ed25519PrivateKey.from_private_bytes(SEED).sign(message)
    cosig = key.cosign(TEXT, T)
    assert (cosig.key_id, cosig.timestamp, cosig.signature) == (want_id, T, want_sig)
    raw = want_id + T.to_bytes(8, "big") + want_sig
    assert cosig.to_line() == f"— {NAME} {base64.b64encode(raw).decode()}\n"
    vkey = base64.b64encode(bytes([4]) + public).decode()
    assert key.verifier_text() == f"{NAME}+{want_id.hex()}+{vkey}"


def test_the_spec_example_line_parses() -> None:
    line = ("— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf"
            "5nNo0xUe+mbIUBkBIfZ+qnA==\n")
    note = parse_note(TEXT + "\n" + line)
    cosig = Cosignature.from_signature(note.signatures[0])
    assert (cosig.name, cosig.key_id.hex(), cosig.timestamp) == ("witness.example.com/w1", "8d66cf3f", T)
    assert cosig.to_line() == line


def test_sign_and_verify_round_trip(key: WitnessKey, log_key: HostKey) -> None:
    cosig = key.cosign(TEXT)
    note = cosigned_note(log_key, cosig.to_line())
    assert verify_cosignatures(note, [key.verifier()]) == {key.verifier(): cosig}
    assert verify_cosignatures(note, [key.verifier_text()]) == {key.verifier(): cosig}
    assert open_note(note, log_key.verifier()) == TEXT  # the log's verifier skips the cosignature


def test_key_ids_keep_log_signatures_and_cosignatures_apart(log_key: HostKey) -> None:
    # One seed and one name as a log key (0x01) and as a witness key (0x04): two key ids.
    witness = WitnessKey(log_key.name, log_key.seed)
    assert witness.key_id != log_key.key_id
    note = cosigned_note(log_key)  # the log's own line is not taken for a cosignature
    assert verify_cosignatures(note, [witness.verifier()]) == {}
    with pytest.raises(UnsupportedKeyTypeError):
        Verifier.from_text(witness.verifier_text())


def test_unknown_and_other_lines_are_skipped(key: WitnessKey, log_key: HostKey) -> None:
    other = WitnessKey.generate("other.example/w")
    mldsa_like = Signature("pq.example/w", b"\x01\x02\x03\x04", bytes(8 + 2420)).to_line()
    note = cosigned_note(log_key, other.cosign(TEXT).to_line(), mldsa_like, key.cosign(TEXT).to_line())
    assert list(verify_cosignatures(note, [key.verifier()])) == [key.verifier()]
    assert verify_cosignatures(note, []) == {}


# --- refusals -------------------------------------------------------------------------------


def test_message_refuses_text_without_final_newline() -> None:
    with pytest.raises(MalformedCosignatureError, match="newline"):
        cosigned_message(TEXT[:-1], T)


@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1, True, 1.5])
def test_message_refuses_timestamp_out_of_range(timestamp: object) -> None:
    with pytest.raises(MalformedCosignatureError, match="timestamp"):
        cosigned_message(TEXT, timestamp)  # type: ignore[arg-type]


def test_cosign_accepts_the_largest_timestamp(key: WitnessKey) -> None:
    cosig = key.cosign(TEXT, MAX_TIMESTAMP)
    assert Cosignature.from_signature(cosig.to_signature()) == cosig
    key.verifier().verify(TEXT, cosig)


@pytest.mark.parametrize("size", [0, 64, COSIGNATURE_SIZE - 1, COSIGNATURE_SIZE + 1, 8 + 2420])
def test_line_of_wrong_length_is_malformed(size: int) -> None:
    with pytest.raises(MalformedCosignatureError, match=f"has {size} bytes"):
        Cosignature.from_signature(Signature(NAME, b"abcd", bytes(size)))


def test_timestamp_beyond_2_63_is_malformed() -> None:
    with pytest.raises(MalformedCosignatureError, match="2\\*\\*63"):
        Cosignature.from_signature(Signature(NAME, b"abcd", (2**63).to_bytes(8, "big") + bytes(64)))


def test_known_witness_line_of_wrong_length_fails_the_note(key: WitnessKey, log_key: HostKey) -> None:
    bad = Signature(NAME, key.key_id, bytes(64)).to_line()  # a plain note signature, no timestamp
    with pytest.raises(MalformedCosignatureError):
        verify_cosignatures(cosigned_note(log_key, bad), [key.verifier()])


def test_tampered_text_is_invalid(key: WitnessKey, log_key: HostKey) -> None:
    other = Checkpoint("example.com/behind-the-sofa", 20852164, bytes(32)).to_text()
    line = key.cosign(other, T).to_line()
    with pytest.raises(InvalidCosignatureError) as caught:
        verify_cosignatures(cosigned_note(log_key, line), [key.verifier()])
    assert isinstance(caught.value, InvalidSignatureError)
    assert caught.value.name == NAME


def test_tampered_timestamp_is_invalid(key: WitnessKey) -> None:
    cosig = key.cosign(TEXT, T)
    moved = Cosignature(cosig.name, cosig.key_id, T + 1, cosig.signature)
    with pytest.raises(InvalidCosignatureError):
        key.verifier().verify(TEXT, moved)


def test_a_plain_note_signature_is_no_cosignature(key: WitnessKey) -> None:
    # Ed25519 over the bare checkpoint, dressed up with a timestamp: the header is missing.
    sig = Ed25519PrivateKey.from_private_bytes(SEED).sign(TEXT.encode())
    with pytest.raises(InvalidCosignatureError):
        key.verifier().verify(TEXT, Cosignature(NAME, key.key_id, T, sig))


def test_another_witness_cosignature_is_refused_by_verify(key: WitnessKey) -> None:
    other = WitnessKey.generate(NAME).cosign(TEXT, T)
    with pytest.raises(InvalidCosignatureError):
        key.verifier().verify(TEXT, other)
    assert not key.verifier().matches(other)


def test_duplicate_cosignature_is_refused(key: WitnessKey, log_key: HostKey) -> None:
    note = cosigned_note(log_key, key.cosign(TEXT, T).to_line(), key.cosign(TEXT, T + 1).to_line())
    with pytest.raises(DuplicateCosignatureError, match="two cosignatures"):
        verify_cosignatures(note, [key.verifier()])


def test_future_cosignature_is_refused_when_asked(key: WitnessKey, log_key: HostKey) -> None:
    note = cosigned_note(log_key, key.cosign(TEXT, T + 600).to_line())
    assert verify_cosignatures(note, [key.verifier()], not_after=T + 600)
    with pytest.raises(FutureCosignatureError) as caught:
        verify_cosignatures(note, [key.verifier()], not_after=T)
    assert (caught.value.timestamp, caught.value.latest) == (T + 600, T)


def test_ambiguous_witness_keys_are_refused(key: WitnessKey) -> None:
    twin = CosignatureVerifier(NAME, key.key_id, bytes(32))
    with pytest.raises(MalformedKeyError, match="ambiguous"):
        verify_cosignatures(TEXT + "\n" + key.cosign(TEXT).to_line(), [key.verifier(), twin])


def test_errors_are_note_errors() -> None:
    for error in (MalformedCosignatureError, InvalidCosignatureError, DuplicateCosignatureError,
                  FutureCosignatureError, UnsupportedCosignatureKeyError):
        assert issubclass(error, NoteError)


# --- keys -----------------------------------------------------------------------------------


def test_verifier_key_round_trip(key: WitnessKey) -> None:
    v = CosignatureVerifier.from_text(key.verifier_text())
    assert v == key.verifier()
    assert v.to_text() == key.verifier_text()


@pytest.mark.parametrize(("vkey", "error", "match"), [
    ("no-plus-signs", MalformedKeyError, "want <name>"),
    ("bad name+8d66cf3f+BA==", MalformedKeyError, "key name"),
    ("w+8d66cf3+BA==", MalformedKeyError, "8 hex digits"),
    ("w+8d66cf3g+BA==", MalformedKeyError, "8 hex digits"),
    ("w+8d66cf3f+!!!", MalformedKeyError, "not base64"),
    ("w+8d66cf3f+", MalformedKeyError, "empty"),
    ("w+8d66cf3f+" + base64.b64encode(b"\x04" + bytes(31)).decode(), MalformedKeyError, "31 bytes"),
    ("w+8d66cf3f+" + base64.b64encode(b"\x01" + bytes(32)).decode(), UnsupportedCosignatureKeyError, "0x01"),
    ("w+8d66cf3f+" + base64.b64encode(b"\x06" + bytes(1312)).decode(), UnsupportedCosignatureKeyError, "0x06"),
    ("w+00000000+" + base64.b64encode(b"\x04" + bytes(32)).decode(), KeyIdMismatchError, "does not match"),
])
def test_verifier_key_refusals(vkey: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        CosignatureVerifier.from_text(vkey)


def test_unsupported_key_is_an_unsupported_key_type_error() -> None:
    exc = UnsupportedCosignatureKeyError(0x01)
    assert isinstance(exc, UnsupportedKeyTypeError) and exc.got == 1 and "want 0x04" in str(exc)


def test_a_log_key_is_no_witness_key(log_key: HostKey) -> None:
    with pytest.raises(UnsupportedCosignatureKeyError):
        CosignatureVerifier.from_text(log_key.verifier_text())
    with pytest.raises(UnsupportedCosignatureKeyError):
        WitnessKey.from_text(log_key.to_text())


@pytest.mark.parametrize(("name", "public"), [("", bytes(32)), ("a b", bytes(32)), ("a+b", bytes(32)),
                                              ("w", bytes(31))])
def test_verifier_from_public_key_refusals(name: str, public: bytes) -> None:
    with pytest.raises(MalformedKeyError):
        CosignatureVerifier.from_public_key(name, public)


def test_signer_key_round_trip_and_secrecy(key: WitnessKey) -> None:
    assert WitnessKey.from_text(key.to_text()) == key
    assert key.to_text().startswith(f"PRIVATE+KEY+{NAME}+{key.key_id.hex()}+BA")  # base64 of 0x04 || seed
    assert SEED.hex() not in repr(key)
    fresh = WitnessKey.generate("w")
    assert WitnessKey.from_text(fresh.to_text()) == fresh and fresh.seed != SEED


@pytest.mark.parametrize("skey", ["PRIVATE+KEY+w+8d66cf3f", "SECRET+KEY+w+8d66cf3f+BA==", "w+8d66cf3f+BA=="])
def test_signer_key_text_refusals(skey: str) -> None:
    with pytest.raises(MalformedKeyError):
        WitnessKey.from_text(skey)


def test_signer_key_id_mismatch(key: WitnessKey) -> None:
    text = key.to_text().replace(key.key_id.hex(), "00000000")
    with pytest.raises(KeyIdMismatchError):
        WitnessKey.from_text(text)


@pytest.mark.parametrize(("name", "seed"), [("a b", SEED), ("w", SEED[:31])])
def test_signer_refuses_bad_name_or_seed(name: str, seed: bytes) -> None:
    with pytest.raises(MalformedKeyError):
        WitnessKey(name, seed)


def test_key_file_is_owner_only_and_never_overwritten(tmp_path: Path, key: WitnessKey) -> None:
    path = tmp_path / "witness.key"
    key.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert WitnessKey.load(path) == key
    with pytest.raises(FileExistsError):
        WitnessKey.generate("w").save(path)
    assert WitnessKey.load(path) == key


def test_key_file_readable_by_others_is_refused(tmp_path: Path, key: WitnessKey) -> None:
    path = tmp_path / "witness.key"
    key.save(path)
    os.chmod(path, 0o640)
    with pytest.raises(InsecureKeyFileError, match="640"):
        WitnessKey.load(path)
