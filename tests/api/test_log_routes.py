"""The log and receipt endpoints over a real gateway: roles, the openai SDK, and an offline verdict."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from revshare.cli import app
from revshare.logstore.licensor_tokens import create_token
from revshare.logstore.tree_store import LogReader
from revshare.tlog import Checkpoint, open_note
from revshare.verify import verify_extension, verify_leaves

runner = CliRunner()


def sdk(gw, customer: str = "demo") -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys[customer], max_retries=0)


def get(gw, path: str, token: str, **params: str | int) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(gw.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def licensor_token(embedded_gateway) -> str:  # type: ignore[no-untyped-def]
    return create_token(embedded_gateway.ledger, "google", "test")[1]


def test_the_sdk_gets_a_receipt_for_its_request_and_verify_accepts_it(embedded_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gw = embedded_gateway
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="gemma-3-270m", max_tokens=4, messages=[{"role": "user", "content": "Hi"}])
    record_id = raw.headers["x-revshare-record-id"]
    assert raw.parse().id.endswith(record_id)
    # Right after the response: the receipt integrates on demand.
    receipt = get(gw, f"/v1/receipts/{record_id}", gw.keys["demo"])
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["record"]["record_id"] == record_id
    (tmp_path / "receipt.json").write_text(receipt.text)
    vkey = httpx.get(gw.url + "/v1/log/vkey").text.strip()
    (tmp_path / "host.vkey").write_text(vkey + "\n")
    result = runner.invoke(app, ["verify", "receipt", str(tmp_path / "receipt.json"), "--key",
                                 str(tmp_path / "host.vkey"), "--record-id", record_id])
    assert result.exit_code == 0, result.output
    assert f"record {record_id}" in result.output and "test-host/revshare/google" in result.output
    # One changed byte in the record: the verdict names the failed check.
    tampered = receipt.text.replace('"prompt_tokens":', '"prompt_tokens":1', 1)
    (tmp_path / "bad.json").write_text(tampered)
    result = runner.invoke(app, ["verify", "receipt", str(tmp_path / "bad.json"), "--key", vkey])
    assert result.exit_code == 1
    assert "FAILED" in result.output and "RootMismatchError" in result.output
    # The tlog-proof form verifies too.
    text = get(gw, f"/v1/receipts/{record_id}", gw.keys["demo"], format="tlog-proof").text
    (tmp_path / "receipt.proof").write_text(text)
    assert runner.invoke(app, ["verify", "receipt", str(tmp_path / "receipt.proof"), "--key", vkey]).exit_code == 0


def test_every_stream_names_its_record_before_done(embedded_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = embedded_gateway
    stream = sdk(gw).chat.completions.create(model="gemma-3-270m", max_tokens=4, stream=True,
                                             messages=[{"role": "user", "content": "Hi"}])
    assert all(chunk.object == "chat.completion.chunk" for chunk in stream)  # the SDK skips the comment
    body = {"model": "gemma-3-270m", "max_tokens": 4, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {gw.keys['demo']}"}) as response:
        events = response.read().decode().split("\n\n")
        record_id = response.headers["x-revshare-record-id"]
    assert events[-2] == "data: [DONE]"
    assert events[-3].startswith(": revshare ")
    named = json.loads(events[-3].removeprefix(": revshare "))
    assert named["record_id"] == record_id and named["seq"] == gw.record(record_id).seq


def test_customers_read_their_own_receipts_only(embedded_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = embedded_gateway
    raw = sdk(gw, "acme").chat.completions.with_raw_response.create(
        model="gemma-3-270m", max_tokens=2, messages=[{"role": "user", "content": "Hi"}])
    record_id = raw.headers["x-revshare-record-id"]
    assert get(gw, f"/v1/receipts/{record_id}", gw.keys["acme"]).status_code == 200
    other = get(gw, f"/v1/receipts/{record_id}", gw.keys["demo"])
    assert other.status_code == 404 and other.json()["error"]["code"] == "record_not_found"
    assert get(gw, f"/v1/receipts/{record_id}", gw.admin_token).status_code == 200
    assert get(gw, f"/v1/receipts/{record_id}", "rsk_nope").status_code == 401
    assert get(gw, f"/v1/receipts/{record_id}", gw.keys["acme"], log="_host").status_code == 404
    forbidden = get(gw, "/v1/log/google/checkpoint", gw.keys["acme"])
    assert forbidden.status_code == 403 and forbidden.json()["error"]["type"] == "permission_error"


def test_a_licensor_reads_its_own_log_only(embedded_gateway, licensor_token: str) -> None:  # type: ignore[no-untyped-def]
    gw = embedded_gateway
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="gemma-3-270m", max_tokens=2, messages=[{"role": "user", "content": "Hi"}])
    record_id = raw.headers["x-revshare-record-id"]
    get(gw, f"/v1/receipts/{record_id}", gw.keys["demo"]).raise_for_status()  # integrated now
    vkey = httpx.get(gw.url + "/v1/log/vkey").text.strip()
    note = get(gw, "/v1/log/google/checkpoint", licensor_token)
    assert note.status_code == 200
    checkpoint = Checkpoint.from_text(open_note(note.text, vkey))
    leaves = get(gw, "/v1/log/google/leaves", licensor_token, start=0, end=checkpoint.size).json()
    assert verify_leaves([x["data"].encode() for x in leaves["leaves"]], note.text, vkey).checkpoint == checkpoint
    proof = get(gw, "/v1/log/google/proof/inclusion", licensor_token, record_id=record_id).json()
    assert proof["size"] == checkpoint.size and json.loads(proof["leaf"])["record_id"] == record_id
    # The licensor keeps an earlier checkpoint (here: the host's previous one) and checks the new extends it.
    old_size, old_note = next((n, text) for n, text in LogReader(gw.ledger).checkpoints("google") if n > 0)
    consistency = get(gw, "/v1/log/google/proof/consistency", licensor_token, old=old_size).json()
    assert consistency["new"] == checkpoint.size
    verify_extension(old_note, note.text, [base64.b64decode(x) for x in consistency["proof"]], vkey)
    # Cross-tenant and unknown logs.
    assert get(gw, "/v1/log/_host/checkpoint", licensor_token).status_code == 403
    assert get(gw, "/v1/log/_host/leaves", licensor_token).status_code == 403
    assert get(gw, "/v1/log/meta/checkpoint", gw.admin_token).status_code == 404
    assert get(gw, "/v1/log/google/checkpoint", "rsl_forged").status_code == 401
    assert get(gw, "/v1/log/google/checkpoint", gw.admin_token).status_code == 200
    too_far = get(gw, "/v1/log/google/leaves", licensor_token, start=0, end=checkpoint.size + 5)
    assert too_far.status_code == 404 and too_far.json()["error"]["code"] == "not_in_log"

