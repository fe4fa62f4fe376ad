"""POST /v1/embeddings with the openai SDK: all-MiniLM-L6-v2 embedded (llama.cpp embedding mode) and
behind a real llama_cpp.server upstream; each call metered once with the tokens the API reported."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from decimal import Decimal

import httpx
import numpy as np
import openai
import pytest

from revshare.config import parse_catalog
from revshare.records.record import Outcome
from tests.support.catalogs import catalog_dict
from tests.support.llama_server import llama_cpp_server
from tests.support.servers import Running, running_gateway

pytestmark = pytest.mark.engine

SENTENCES = ["A man is eating food.", "A man is eating a meal.", "The stock market fell sharply today."]


@pytest.fixture(scope="module")
def minilm_path() -> str:
    try:
        from revshare.engines.bert_gguf import default_embedding_model_path

        return default_embedding_model_path()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the embedding model must be installed in CI: {exc}")
        pytest.skip(f"embedding model not installed: {exc}")


@pytest.fixture(scope="module")
def embedding_server(minilm_path: str) -> Iterator[str]:
    """llama-cpp-python's own server, in embedding mode, as a real upstream."""
    with llama_cpp_server(minilm_path, "--embedding", "true", "--n_ctx", "512", "--n_batch", "512",
                          "--n_ubatch", "512", "--model_alias", "minilm") as base:
        yield base


@pytest.fixture(scope="module")
def gw(embedding_server: str, model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    raw = catalog_dict(engines=[{"id": "local", "kind": "embedded", "n_ctx": 2048}])
    raw["engines"] += [{"id": "minilm", "kind": "embedded", "n_ctx": 512},
                       {"id": "upminilm", "kind": "upstream", "base_url": embedding_server}]
    raw["models"] += [{"id": "all-minilm-l6-v2", "engine": "minilm", "kind": "embedding", "context_length": 512},
                      {"id": "minilm-upstream", "engine": "upminilm", "kind": "embedding", "context_length": 512,
                       "upstream_model": "minilm"}]
    raw["prices"] += [{"model": m, "input_per_million": "0.02", "output_per_million": "0", "currency": "USD",
                       "effective_from": "2026-01-01T00:00:00Z"} for m in ("all-minilm-l6-v2", "minilm-upstream")]
    url = f"sqlite:///{tmp_path_factory.mktemp('emb') / 'ledger.db'}"
    with running_gateway(parse_catalog(raw), url) as running:
        yield running


def client(gw: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["demo"], max_retries=0)


def rid(raw: object) -> str:
    return raw.headers["x-revshare-record-id"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", ["all-minilm-l6-v2", "minilm-upstream"])
def test_a_paraphrase_ranks_above_an_unrelated_sentence_and_is_metered_once(gw: Running, model: str) -> None:
    before = gw.ledger.count()
    raw = client(gw).embeddings.with_raw_response.create(model=model, input=SENTENCES, encoding_format="float")
    response = raw.parse()
    vectors = np.array([d.embedding for d in sorted(response.data, key=lambda d: d.index)])
    assert vectors.shape == (3, 384)
    if model == "all-minilm-l6-v2":  # normalised, as sentence-transformers does: dot = cosine
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # an upstream's, as it sent them
    paraphrase, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert paraphrase > 0.8 and unrelated < 0.3 and paraphrase > unrelated
    rec = gw.record(rid(raw))
    assert gw.ledger.count() == before + 1
    assert rec.endpoint == "embeddings" and rec.outcome is Outcome.OK and not rec.estimated
    assert rec.prompt_tokens == response.usage.prompt_tokens > len(SENTENCES) and rec.completion_tokens == 0
    assert rec.amount == Decimal("0.02") * rec.prompt_tokens / Decimal(1_000_000)


def test_embedded_and_upstream_agree(gw: Running) -> None:
    c = client(gw)
    local = c.embeddings.create(model="all-minilm-l6-v2", input="The sky is blue.")
    upstream = c.embeddings.create(model="minilm-upstream", input="The sky is blue.")
    assert local.usage.prompt_tokens == upstream.usage.prompt_tokens
    theirs = np.array(upstream.data[0].embedding)
    assert np.allclose(local.data[0].embedding, theirs / np.linalg.norm(theirs), atol=1e-3)


@pytest.mark.parametrize("model", ["all-minilm-l6-v2", "minilm-upstream"])
def test_base64_is_little_endian_float32_of_the_same_vector(gw: Running, model: str) -> None:
    body = {"model": model, "input": ["hello world"]}
    auth = {"Authorization": f"Bearer {gw.keys['demo']}"}
    floats = httpx.post(gw.url + "/v1/embeddings", json={**body, "encoding_format": "float"}, headers=auth).json()
    packed = httpx.post(gw.url + "/v1/embeddings", json={**body, "encoding_format": "base64"}, headers=auth).json()
    decoded = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, floats["data"][0]["embedding"], atol=1e-6)
    # The SDK asks for base64 by default and decodes it.
    assert len(client(gw).embeddings.create(model=model, input="hello world").data[0].embedding) == 384


def _refused(gw: Running, body: dict[str, object]) -> dict[str, object]:
    r = httpx.post(gw.url + "/v1/embeddings", json=body, headers={"Authorization": f"Bearer {gw.keys['demo']}"})
    assert r.status_code == 400, r.text
    error: dict[str, object] = r.json()["error"]
    return error


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "all-minilm-l6-v2", "input": "x", "dimensions": 128}, "dimensions"),
    ({"model": "all-minilm-l6-v2", "input": [1, 2, 3]}, "input"),
    ({"model": "all-minilm-l6-v2", "input": ["ok", "word " * 600]}, "input[1]"),
    ({"model": "all-minilm-l6-v2", "input": []}, "input"),
    ({"model": "all-minilm-l6-v2", "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"model": "gemma-3-270m", "input": "x"}, "model"),
])
def test_what_the_model_cannot_do_is_refused_naming_the_parameter(gw: Running, body: dict[str, object],
                                                                   param: str) -> None:
    assert _refused(gw, body)["param"] == param


def test_dimensions_equal_to_the_models_are_honoured(gw: Running) -> None:
    r = client(gw).embeddings.create(model="all-minilm-l6-v2", input="x", dimensions=384, encoding_format="float")
    assert len(r.data[0].embedding) == 384


def test_an_embedding_model_is_refused_on_chat(gw: Running) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).chat.completions.create(model="all-minilm-l6-v2", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["param"] == "model"  # type: ignore[index]


def test_an_idempotency_key_replays_the_embeddings(gw: Running) -> None:
    headers = {"Authorization": f"Bearer {gw.keys['demo']}", "Idempotency-Key": "emb-1"}
    body = {"model": "all-minilm-l6-v2", "input": ["one", "two"]}
    before = gw.ledger.count()
    first = httpx.post(gw.url + "/v1/embeddings", json=body, headers=headers)
    again = httpx.post(gw.url + "/v1/embeddings", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert gw.ledger.count() == before + 1


def test_the_documented_embedding_catalog_parses() -> None:
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "CONFIG.md").read_text()
    block = text[text.index("### Embedding models"):].split("```toml\n", 1)[1].split("```", 1)[0]
    raw = tomllib.loads(block)
    catalog = parse_catalog({**raw, "customers": [{"name": "demo"}]})
    assert catalog.models[0].kind == "embedding" and catalog.engines[0].kind == "embedded"


def test_an_embedded_engine_with_models_of_two_kinds_is_a_config_error() -> None:
    from revshare.config import ConfigError

    raw = catalog_dict()
    raw["models"].append({"id": "minilm", "engine": "local", "kind": "embedding"})
    raw["prices"].append({**raw["prices"][0], "model": "minilm"})
    with pytest.raises(ConfigError, match=r"models\[1\] \(id='minilm'\)\.kind: the embedded engine 'local'"):
        parse_catalog(raw)
