"""A model routed across a real `llama_cpp.server` and the stub upstream: both serve, each record
names the one that did, and when the stub is killed every request goes on to llama.cpp."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from revshare.config import parse_catalog
from revshare.records.record import Outcome
from tests.scaleout.processes import Upstream
from tests.support.catalogs import catalog_dict
from tests.support.llama_server import llama_cpp_server
from tests.support.servers import Running, running_gateway

MODEL = "gemma-3-270m"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 4}


@pytest.fixture
def llama_server(model_path: str) -> Iterator[str]:
    with llama_cpp_server(model_path, "--chat_format", "gemma", "--n_ctx", "1024", "--model_alias", MODEL) as base:
        yield base


def _post(gw: Running) -> str:
    r = httpx.post(gw.url + "/v1/chat/completions", json=BODY, timeout=120,
                   headers={"Authorization": f"Bearer {gw.keys['demo']}"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"]).removeprefix("chatcmpl-")


@pytest.mark.engine
def test_a_route_over_llama_cpp_server_and_the_stub_fails_over_to_llama_cpp(
        llama_server: str, tmp_path: Path, sqlite_url: str) -> None:
    stub = Upstream(tmp_path / "stub.log", tokens=4, delay_s=0.05).start()
    try:
        raw = catalog_dict(engines=[
            {"id": "llamacpp", "kind": "upstream", "base_url": llama_server, "failure_threshold": 1},
            {"id": "stub", "kind": "upstream", "base_url": stub.url, "failure_threshold": 1, "cooldown_s": 60}])
        model = raw["models"][0]
        model.pop("engine")
        model.update(engines=["llamacpp", "stub"], tokenizer="bundled")
        with running_gateway(parse_catalog(raw), sqlite_url) as gw:
            with ThreadPoolExecutor(2) as pool:  # two at a time: least outstanding uses both
                both = list(pool.map(lambda _: _post(gw), range(6)))
            served = {gw.record(record_id).engine for record_id in both}
            assert served == {"llamacpp", "stub"}

            stub.kill()
            after = [_post(gw) for _ in range(3)]
            records = [gw.record(record_id) for record_id in after]
            assert [(r.engine, r.outcome) for r in records] == [("llamacpp", Outcome.OK)] * 3
            assert all(r.completion_tokens > 0 and r.amount > 0 for r in records)
            assert gw.ledger.count() == 9  # retried or not, one record a request
    finally:
        stub.kill()
