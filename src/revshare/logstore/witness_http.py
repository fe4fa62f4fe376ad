"""One add-checkpoint request to a witness (C2SP tlog-witness), its answer, and the errors of both.

    WitnessHttp().post(witness, body, where)     -> Answer (status, media type, text), or
                                                    WitnessUnreachableError when nothing answers
    add_checkpoint_body(old, proof, note)        the request body
    answered_size(answer, where)                 the size of a 409 `text/x.tlog.size` answer
    refusal(answer, where)                       the WitnessRefusedError of any other status
    verified_cosignature(verifier, note, text)   the 200 answer's line of the witness's key, verified

The body is the spec's, as revshare.witness.protocol reads it (a room this one may not import):
`old <size>`, the consistency proof hashes (standard base64, one a line), a blank line, the signed
note. aiohttp's errors are translated here, once.

    WitnessSubmitError
    ├── WitnessUnreachableError   no HTTP answer: refused, reset, timed out
    ├── WitnessRefusedError       an HTTP status other than 200 (after the one 409 retry)
    └── BadCosignatureError       200, but no line of the witness's key that verifies
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp

from revshare.config.sections import WitnessConfig
from revshare.tlog import NoteError
from revshare.tlog.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures

__all__ = [
    "MAX_ANSWER",
    "SIZE_MEDIA_TYPE",
    "Answer",
    "BadCosignatureError",
    "WitnessHttp",
    "WitnessRefusedError",
    "WitnessSubmitError",
    "WitnessUnreachableError",
    "add_checkpoint_body",
    "answered_size",
    "refusal",
    "verified_cosignature",
]

MAX_ANSWER = 65_536  # bytes read of a witness's answer
SIZE_MEDIA_TYPE = "text/x.tlog.size"


class WitnessSubmitError(Exception):
    """A checkpoint a witness did not cosign; the message names the log, the size and why."""


class WitnessUnreachableError(WitnessSubmitError):
    """No HTTP answer from the witness."""


class WitnessRefusedError(WitnessSubmitError):
    """The witness answered with another status than 200."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class BadCosignatureError(WitnessSubmitError):
    """A 200 whose lines hold no cosignature of the witness's key over the checkpoint."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A witness's HTTP answer: its status, media type (lower case, no parameters) and text."""

    status: int
    media_type: str
    text: str


def add_checkpoint_body(old: int, proof: Iterable[bytes], note: str) -> bytes:
    """The add-checkpoint request body."""
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof), ""]
    return ("\n".join(lines) + "\n" + note).encode()


class WitnessHttp:
    """One aiohttp session for every witness of a process; each request has its witness's timeout."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(self, witness: WitnessConfig, body: bytes, where: str) -> Answer:
        if self._session is None:
            self._session = aiohttp.ClientSession(raise_for_status=False)
        try:
            async with self._session.post(
                witness.url + "/add-checkpoint", data=body, headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=witness.timeout_s),
            ) as response:
                raw = await response.content.read(MAX_ANSWER)
                media = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                return Answer(response.status, media, raw.decode("utf-8", "replace"))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise WitnessUnreachableError(f"{witness.url} cannot be reached for {where}: "
                                          f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def answered_size(answer: Answer, where: str) -> int:
    """The size a 409 `text/x.tlog.size` answer says the witness holds."""
    value = answer.text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise WitnessRefusedError(f"answered {where} with 409 {SIZE_MEDIA_TYPE} but no size: {_quote(answer.text)}",
                                  409)
    return int(value)


_MEANINGS = {
    400: " (malformed)",
    403: " (the host's signature is not by the log key it follows)",
    404: " (it does not follow this log: its operator adds it to witness.toml)",
    409: " (a checkpoint of the size it cosigned with another root: this log forked)",
    422: " (the consistency proof fails: this log does not extend what it cosigned)",
}


def refusal(answer: Answer, where: str) -> WitnessRefusedError:
    return WitnessRefusedError(f"refused {where} with HTTP {answer.status}{_MEANINGS.get(answer.status, '')}: "
                               f"{_quote(answer.text)}", answer.status)


def verified_cosignature(verifier: CosignatureVerifier, note: str, answer: str, where: str) -> Cosignature:
    """The cosignature of `verifier`'s key among the answer's lines, verified over the note's checkpoint."""
    body = note.partition("\n\n")[0] + "\n"
    key = f"{verifier.name}+{verifier.key_id.hex()}"
    try:  # the answer is signature lines: under the checkpoint's body, they make a signed note
        found = verify_cosignatures(body + "\n" + answer, [verifier])
    except NoteError as exc:
        raise BadCosignatureError(f"answered {where} with no valid cosignature of {key}: "
                                  f"{type(exc).__name__}: {exc}") from None
    if verifier not in found:
        raise BadCosignatureError(f"answered {where} with no line of its key {key}: {_quote(answer)}")
    return found[verifier]


def _quote(text: str) -> str:
    one = " ".join(text.split())
    return repr(one[:200] + ("…" if len(one) > 200 else ""))
