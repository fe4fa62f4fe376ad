"""Send a licensor's canary requests, as a customer, and keep what the host answered (`revshare.verify.canary`).

`run_canaries` sends `count` one-token chat completions spread evenly over `over_s` seconds to an
OpenAI-compatible base URL (`https://HOST/v1`) with a customer key, then asks for each record's
receipt in the licensor's log (`GET /v1/receipts/ID?log=LOG`), retrying while the host answers 409
(not yet integrated) for up to `wait_s` seconds. Each request becomes a line of canaries.jsonl; each
receipt a file under receipts/, its checkpoint a file under checkpoints/. The standard library's HTTP
client only: the base install runs it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from revshare.instants import utc_now
from revshare.tlog import Checkpoint, TlogError
from revshare.verify.canary import CANARIES, CHECKPOINTS, Canary, receipt_path, valid_record_id
from revshare.verify.receipt import read_receipt

__all__ = ["CanaryRun", "run_canaries"]

RECORD_HEADER = "x-revshare-record-id"
TIMEOUT_S = 60.0
_MAX_BODY = 1 << 20


@dataclass(frozen=True)
class CanaryRun:
    """What a run kept: the canaries sent (with the host's answers) and how many receipts it holds."""

    canaries: tuple[Canary, ...]
    receipts: int


def _call(method: str, url: str, key: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "revshare-canary"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read(_MAX_BODY)
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read(_MAX_BODY)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 0, {}, str(exc).encode()


def _error(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return body[:300].decode("utf-8", "replace")


def run_canaries(base_url: str, key: str, *, model: str, log: str, count: int, over_s: float, folder: Path,
                 wait_s: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> CanaryRun:
    """Send the canaries, then collect their receipts; append to the folder (a later run adds to it)."""
    base = base_url.rstrip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CHECKPOINTS).mkdir(exist_ok=True)
    receipt_path(folder, "x").parent.mkdir(exist_ok=True)
    first = _next_number(folder)
    sent: list[Canary] = []
    for i in range(count):
        if i and count > 1:
            sleep(over_s / (count - 1))
        nonce = secrets.token_hex(4)
        body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": f"Say OK. ({nonce})"}]}
        at = utc_now()
        status, headers, answer = _call("POST", f"{base}/chat/completions", key, body)
        record_id = headers.get(RECORD_HEADER)
        if record_id is not None and not valid_record_id(record_id):
            record_id = None
        error = None if status == 200 and record_id else (_error(answer) or f"HTTP {status} without {RECORD_HEADER}")
        sent.append(Canary(first + i, at, log, record_id, status, error))
    receipts = 0
    deadline = time.monotonic() + wait_s
    for canary in sent:
        if canary.answered and canary.record_id is not None:
            receipts += _fetch_receipt(base, key, log, canary.record_id, folder, deadline, sleep)
    with (folder / CANARIES).open("a", encoding="utf-8") as f:
        f.writelines(c.to_line() for c in sent)
    return CanaryRun(tuple(sent), receipts)


def _next_number(folder: Path) -> int:
    path = folder / CANARIES
    return 1 + (sum(1 for _ in path.open(encoding="utf-8")) if path.is_file() else 0)


def _fetch_receipt(base: str, key: str, log: str, record_id: str, folder: Path, deadline: float,
                   sleep: Callable[[float], None]) -> bool:
    """The record's receipt in `log`, kept with its checkpoint; False if the host gives none before the deadline."""
    url = f"{base}/receipts/{record_id}?" + urllib.parse.urlencode({"log": log})
    while True:
        status, _, body = _call("GET", url, key)
        if status == 200:
            text = body.decode("utf-8", "replace")
            receipt_path(folder, record_id).write_text(text, encoding="utf-8")
            _keep_checkpoint(folder, text)
            return True
        if status != 409 or time.monotonic() >= deadline:
            return False
        sleep(0.5)


def _keep_checkpoint(folder: Path, receipt_text: str) -> None:
    try:
        note = read_receipt(receipt_text).checkpoint
        cp = Checkpoint.from_text(note.partition("\n\n")[0] + "\n")
    except (ValueError, TypeError, TlogError):
        return  # `check` names a receipt that does not parse
    name = f"{cp.size}-{base64.b16encode(cp.root_hash[:8]).decode().lower()}.checkpoint"
    (folder / CHECKPOINTS / name).write_text(note, encoding="utf-8")
