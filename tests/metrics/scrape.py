"""Scraping a gateway's /metrics over HTTP, and a stub upstream that fails on purpose."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of one scrape, keyed by (name, labels)."""
    r = httpx.get(url + "/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a series' samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def scrape_until(url: str, ready: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    """Scrape until `ready` holds: a request is counted when its exchange ends, which the client
    may see a moment before the server does."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def failing_upstream_app() -> Any:
    """An OpenAI-compatible upstream that refuses: 500 to a stream, 400 to anything else."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        stream = bool(json.loads(body or b"{}").get("stream"))
        status = 500 if stream else 400
        payload = json.dumps({"error": {"message": "no", "type": "invalid_request_error", "param": None,
                                        "code": None}}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})

    return app
