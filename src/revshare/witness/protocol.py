"""The add-checkpoint request body of C2SP tlog-witness, read strictly.

    old 20852014                                    the size of the latest checkpoint the client
    PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=    thinks this witness cosigned, then at most 63
    jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=    consistency proof hashes (base64), one a line,
                                                    a blank line,
    example.com/behind-the-sofa                     and the checkpoint as a signed note
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

    — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+...

Each malformed case raises MalformedRequestError naming it (a 400); nothing here knows the
log or the witness's state.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from revshare.tlog.hashing import HASH_SIZE
from revshare.witness.errors import MalformedRequestError

__all__ = ["MAX_BODY", "MAX_PROOF_LINES", "AddCheckpointRequest", "parse_add_checkpoint", "render_add_checkpoint"]

MAX_BODY = 64 * 1024  # a checkpoint with many signatures fits; a flood does not
MAX_PROOF_LINES = 63  # the spec: a client MUST NOT send more
MAX_SIZE = 2**63 - 1  # what SQLite's INTEGER holds; no real log comes near


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed add-checkpoint body.

    Attributes:
        old_size: the size the client believes this witness last cosigned (0: never).
        proof: the consistency proof from old_size to the checkpoint's size, 32-byte hashes.
        note: the checkpoint, a signed note (form and signatures not yet checked).
    """

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Split an add-checkpoint body into old size, proof and checkpoint note."""
    if len(body) > MAX_BODY:
        raise MalformedRequestError(f"body has {len(body)} bytes, want <= {MAX_BODY}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequestError("body is not UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise MalformedRequestError("no blank line between the old size and proof lines and the checkpoint")
    first, *proof_lines = head.split("\n")
    if not first.startswith("old "):
        raise MalformedRequestError(f"first line {first[:40]!r}: want 'old <size>'")
    old_size = parse_size(first[4:], "old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedRequestError(f"{len(proof_lines)} proof lines, want <= {MAX_PROOF_LINES}")
    if old_size == 0 and proof_lines:
        raise MalformedRequestError("old size 0 with proof lines: the proof must be empty from size 0")
    proof = tuple(_parse_hash(i, line) for i, line in enumerate(proof_lines, 2))
    if not note:
        raise MalformedRequestError("no checkpoint after the blank line")
    return AddCheckpointRequest(old_size, proof, note)


def parse_size(text: str, what: str) -> int:
    """An ASCII decimal without sign or leading zero (but `0`), below 2**63."""
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0"):
        raise MalformedRequestError(f"{what} {text[:40]!r}: want a decimal without sign or leading zero")
    size = int(text)
    if size > MAX_SIZE:
        raise MalformedRequestError(f"{what} {text}: want <= 2**63 - 1")
    return size


def _parse_hash(line_number: int, line: str) -> bytes:
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequestError(f"line {line_number}: proof hash {line[:60]!r} is not base64") from None
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != line:
        raise MalformedRequestError(f"line {line_number}: proof hash {line[:60]!r}: want base64 of {HASH_SIZE} bytes")
    return raw


def render_add_checkpoint(old_size: int, proof: tuple[bytes, ...] | list[bytes], note: str) -> bytes:
    """The body a client sends (the inverse of parse_add_checkpoint)."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()
