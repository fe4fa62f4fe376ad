"""Issue 17: arbitrary JSON to every route, with every kind of credential, never a 5xx.

Hypothesis writes the JSON (nulls, booleans, integers past 64 bits, floats, strings with lone
surrogates and control characters, nesting), as a whole body, as the values of an OpenAI-shaped
body (the right model, random everything else), and as query parameters. Every answer must be
below 500, and every 4xx OpenAI's error shape, on one keep-alive connection (an error must never
cost the client its connection).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revshare.logstore.licensor_tokens import create_token
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import BODY, MODEL, stub_catalog, stub_upstream

pytestmark = pytest.mark.slow

# Text as JSON can spell it: any code point (Hypothesis alone draws a lone surrogate a few times
# in a thousand, so one of these is often put in: JSON writes a lone surrogate as \ud800).
ODD = st.sampled_from(["\ud800", "", "\udfff", "\x00", "\u2028", "\ufeff"])
_PLAIN = st.text(st.characters(codec=None, exclude_categories=[]), max_size=8)
TEXT = st.tuples(_PLAIN, ODD, _PLAIN).map("".join)
WORDS = TEXT.filter(bool)  # never empty: what a prompt or a name must be
# Integers past 32, 53 and 64 bits (SQLite's and JSON's limits) besides Hypothesis's own.
EDGES = st.sampled_from([2**63, 2**64, 2**63 - 1, -(2**63) - 1, -1, 2**31, 2**53 + 1])
SCALARS = (st.none() | st.booleans() | st.integers() | EDGES
           | st.floats(allow_nan=False, allow_infinity=False) | TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)

EXTRA_KEYS = ("max_tokens", "max_completion_tokens", "stream", "stream_options", "temperature", "top_p", "n", "stop",
              "seed", "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice", "response_format", "user",
              "metadata", "store", "echo", "suffix", "best_of", "messages", "prompt")
# Near what the routes take, so the JSON reaches past the first check: the model, messages of
# each role with arbitrary content, a prompt; then a few parameters with arbitrary values.
_NAMED = st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user", "assistant"]),
                                 "content": WORDS | WORDS | JSON}, optional={"name": WORDS})
_TOOL = st.fixed_dictionaries({"role": st.just("tool"), "content": WORDS | JSON, "tool_call_id": TEXT})
EXTRA: st.SearchStrategy[dict[str, Any]] = st.just({}) | st.dictionaries(st.sampled_from(EXTRA_KEYS), JSON, max_size=2)
CHAT = st.builds(lambda model, messages, extra: {"model": model, "messages": messages, **extra},
                 st.just(MODEL) | JSON, st.lists(_NAMED | _TOOL, min_size=1, max_size=3), EXTRA)
LEGACY = st.builds(lambda model, prompt, extra: {"model": model, "prompt": prompt, **extra},
                   st.just(MODEL) | JSON, WORDS | JSON, EXTRA)
COMPLETIONS = ("/v1/chat/completions", "/v1/completions")
REQUESTS = (st.tuples(st.just(COMPLETIONS[0]), CHAT) | st.tuples(st.just(COMPLETIONS[1]), LEGACY)
            | st.tuples(st.sampled_from(COMPLETIONS), JSON))
QUERY_KEYS = ("after_seq", "limit", "customer", "seq", "record_id", "size", "old", "new", "start", "end", "log",
              "format")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp('arbitrary') / 'ledger.db'}"
    with stub_upstream() as base, running_gateway(stub_catalog(base), url) as running:
        yield running


class Route:
    """One operation of the document: its method and path (parameters filled with what exists), the
    query parameters it declares, and the credential that opens it."""

    def __init__(self, method: str, path: str, query: list[str], credential: str | None) -> None:
        self.method, self.path, self.query, self.credential = method, path, query, credential

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


def _routes(gw: Running, record_id: str, licensor: str) -> list[Route]:
    spec = httpx.get(gw.url + "/openapi.json", timeout=30).json()
    tokens = {"apiKey": gw.keys["demo"], "adminToken": gw.admin_token, "licensorToken": licensor}
    routes = []
    for template, operations in spec["paths"].items():
        path = template.replace("{log_id}", "google").replace("{record_id}", record_id)
        for method, operation in operations.items():
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            schemes = [name for requirement in operation.get("security", []) for name in requirement]
            routes.append(Route(method.upper(), path, query, tokens[schemes[0]] if schemes else None))
    return routes


def _as_query(value: Any) -> str:
    """A JSON object as a query string: strings as they are, other values as JSON, each percent-encoded
    from its bytes (a lone surrogate as the three bytes it would be)."""
    if not isinstance(value, dict):
        return ""
    pairs = [(key, item if isinstance(item, str) else json.dumps(item)) for key, item in value.items()]
    return "&".join(f"{_quoted(key)}={_quoted(item)}" for key, item in pairs)


def _quoted(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _check(response: httpx.Response, what: Any) -> None:
    if response.request.url.path == "/readyz":  # its 503 means "not ready", with the reasons
        assert response.status_code in (200, 503) and "checks" in response.json(), response.text
        return
    assert response.status_code < 500, (what, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, response.text


def _headers(credential: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    return headers


def test_arbitrary_json_bodies_to_the_completions(gw: Running) -> None:
    key = gw.keys["demo"]
    with httpx.Client(base_url=gw.url, timeout=30) as client:  # one keep-alive connection for all

        @given(request=REQUESTS, credential=st.sampled_from([key] * 8 + [gw.admin_token, None]))
        @settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(request: tuple[str, Any], credential: str | None) -> None:
            path, body = request
            response = client.post(path, headers=_headers(credential), content=json.dumps(body).encode())
            _check(response, (path, body))

        check()


def test_arbitrary_json_to_every_route(gw: Running) -> None:
    headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
    first = httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers=headers, timeout=30)
    record_id = first.headers["x-revshare-record-id"]
    _, licensor = create_token(gw.ledger, "google")
    others = [gw.keys["demo"], gw.admin_token, licensor, None, "rsk_not_a_key"]
    routes = _routes(gw, record_id, licensor)
    assert len(routes) >= 15, routes

    @st.composite
    def requests(draw: st.DrawFn) -> tuple[Route, str | None, Any]:
        route = draw(st.sampled_from(routes))
        # Mostly the route's own credential, so the JSON gets past the door; sometimes any other.
        credential = draw(st.sampled_from([route.credential] * 4 + others))
        declared = st.fixed_dictionaries({}, optional={name: SCALARS for name in route.query})
        query = draw(declared | declared | st.dictionaries(st.sampled_from(QUERY_KEYS), JSON, max_size=3) | JSON)
        return route, credential, query

    with httpx.Client(base_url=gw.url, timeout=30) as client:

        @given(request=requests(), body=JSON, path_value=st.none() | st.none() | TEXT)
        @settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(request: tuple[Route, str | None, Any], body: Any, path_value: str | None) -> None:
            route, credential, query = request
            path = route.path
            if path_value is not None:
                path = path.replace("google", _quoted(path_value)).replace(record_id, _quoted(path_value))
            query_string = _as_query(query)
            response = client.request(route.method, path + ("?" + query_string if query_string else ""),
                                      headers=_headers(credential), content=json.dumps(body).encode())
            _check(response, (route, query_string, body))

        check()
