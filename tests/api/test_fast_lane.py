"""The hot routes' own lane (api/fast_lane.py): a request in order is served there, anything else is
answered by the app, word for word as before, and both are counted under the route's template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from revshare.api import fast_lane
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import BODY, MODEL, stub_catalog, stub_upstream

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp('lane') / 'ledger.db'}"
    with stub_upstream() as base, running_gateway(stub_catalog(base), url) as running:
        yield running


@pytest.fixture
def served_by_lane(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The endpoints the lane called `serve` for, in order (the app's routes call it too, elsewhere)."""
    calls: list[str] = []
    real = fast_lane.serve  # type: ignore[attr-defined]

    async def spy(request: Any, key: Any, body: Any, endpoint: Any, idempotency_key: Any) -> Any:
        calls.append(endpoint)
        return await real(request, key, body, endpoint, idempotency_key)

    monkeypatch.setattr(fast_lane, "serve", spy)
    return calls


def post(gw: Running, body: Any = None, *, raw: bytes | None = None, headers: dict[str, str] | None = None,
         path: str = CHAT, key: bool = True) -> httpx.Response:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key:
        sent["Authorization"] = f"Bearer {gw.keys['demo']}"
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(gw.url + path, content=content, headers=sent, timeout=30)


def test_the_openai_sdk_is_served_by_the_lane_and_metered_once(gw: Running, served_by_lane: list[str]) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=5)
    text = client.completions.create(model=MODEL, prompt="hi", max_tokens=5)
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                 max_tokens=5, stream=True, stream_options={"include_usage": True}))
    assert served_by_lane == ["chat.completions", "completions", "chat.completions"]
    assert chat.usage is not None and text.usage is not None and chunks[-1].usage is not None
    for response_id, usage in ((chat.id, chat.usage), (text.id, text.usage), (chunks[0].id, chunks[-1].usage)):
        record = gw.record(response_id.split("-", 1)[1])
        assert (record.prompt_tokens, record.completion_tokens) == (usage.prompt_tokens, usage.completion_tokens)


@pytest.mark.parametrize(("case", "status", "code", "param"), [
    ("no key", 401, "missing_api_key", None),
    ("wrong key", 401, "invalid_api_key", None),
    ("not JSON", 400, "invalid_json", None),
    ("wrong content type", 415, "unsupported_media_type", None),
    ("unknown parameter", 400, "unknown_parameter", "colour"),
    ("bad message", 400, "invalid_value", "messages[0].content"),
    ("empty Idempotency-Key", 400, None, "Idempotency-Key"),
    ("duplicate key in JSON", 400, "invalid_json", None),
    ("unknown model", 404, "model_not_found", "model"),
])
def test_a_request_out_of_order_gets_the_apps_own_answer(gw: Running, served_by_lane: list[str], case: str,
                                                         status: int, code: str | None, param: str | None) -> None:
    body: dict[str, Any] = dict(BODY)
    raw = None
    headers: dict[str, str] = {}
    key = True
    if case == "no key":
        key = False
    elif case == "wrong key":
        headers["Authorization"] = "Bearer rsk_not_a_key"
        key = False
    elif case == "not JSON":
        raw = b"{not json"
    elif case == "wrong content type":
        headers["Content-Type"] = "text/plain"
    elif case == "unknown parameter":
        body["colour"] = "blue"
    elif case == "bad message":
        body["messages"] = [{"role": "user", "content": 7}]
    elif case == "empty Idempotency-Key":
        headers["Idempotency-Key"] = ""
    elif case == "duplicate key in JSON":
        raw = b'{"model": "a", "model": "b", "messages": [{"role": "user", "content": "hi"}]}'
    elif case == "unknown model":
        body["model"] = "no-such-model"
    answer = post(gw, body, raw=raw, headers=headers, key=key)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code
    assert error["param"] == param
    # Only a request in order (the unknown model: the serving core refuses it) reaches the lane's serve.
    assert served_by_lane == (["chat.completions"] if case == "unknown model" else [])


def test_both_lanes_are_counted_under_the_routes_template(gw: Running) -> None:
    def served(status: str) -> float:
        text = httpx.get(gw.url + "/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("revshare_http_requests_total{") and f'route="{CHAT}"' in line \
                    and f'status_class="{status}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    ok, refused = served("2xx"), served("4xx")
    assert post(gw, BODY).status_code == 200
    assert post(gw, {**BODY, "colour": "blue"}).status_code == 400
    assert (served("2xx") - ok, served("4xx") - refused) == (1, 1)


def test_a_chunked_body_reaches_the_lane_whole(gw: Running, served_by_lane: list[str], tmp_path: Path) -> None:
    payload = json.dumps(BODY).encode()

    def pieces() -> Iterator[bytes]:
        yield payload[:10]
        yield payload[10:]

    answer = httpx.post(gw.url + CHAT, content=pieces(), timeout=30,
                        headers={"Content-Type": "application/json", "Authorization": f"Bearer {gw.keys['demo']}"})
    assert answer.status_code == 200, answer.text
    assert served_by_lane == ["chat.completions"]
