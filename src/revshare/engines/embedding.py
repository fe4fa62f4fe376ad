"""Embeddings on llama.cpp (embedding mode) and the OpenAI body both engines answer with.

    embed_with_llama(llm, request, meter) -> the OpenAI embeddings body (run on the model's thread)
    embeddings_body(vectors, model, encoding_format) -> {"object": "list", "data": [...], ...}

A sentence-embedding model pools its token states (all-MiniLM-L6-v2: mean pooling) and the
vectors are L2-normalised, as sentence-transformers does (its `Normalize` module), so a dot
product is the cosine similarity. `encoding_format: "base64"` is OpenAI's: the float32 vector,
little-endian, base64-encoded (the openai SDK asks for it by default and decodes it).

Honest limits, each a 400 naming the parameter: an input longer than the model's context
(llama.cpp would silently truncate it), token-id inputs (llama.cpp embeds text), and a
`dimensions` other than the model's own (the model cannot shorten its vectors).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from revshare.engines.base import GenerationRequest, UsageMeter
from revshare.engines.llama_params import ParamRefused

__all__ = ["embed_with_llama", "embeddings_body", "encode_vector", "input_texts"]


def encode_vector(vector: list[float], encoding_format: str) -> list[float] | str:
    """A vector as OpenAI sends it: floats, or base64 of little-endian float32."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def embeddings_body(vectors: list[list[float]], model: str, encoding_format: str) -> dict[str, Any]:
    return {"object": "list", "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": encode_vector(v, encoding_format)}
                     for i, v in enumerate(vectors)]}


def input_texts(params: dict[str, Any]) -> list[str]:
    """The texts of an embeddings request (`input` is a string or a list of strings here)."""
    value = params.get("input")
    return [value] if isinstance(value, str) else list(value or [])


def embed_with_llama(llm: Any, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
    """Check, count, embed and normalise the inputs on a `Llama` loaded with `embedding=True`."""
    params = request.params
    model = request.model.id
    raw = params.get("input")
    if not isinstance(raw, str) and any(not isinstance(item, str) for item in raw or []):
        raise ParamRefused(f"the model {model!r} embeds text: give 'input' as a string or a list of strings, not "
                           "token ids", "input", "unsupported_parameter")
    width = int(llm.n_embd())
    dimensions = params.get("dimensions")
    if dimensions is not None and dimensions != width:
        raise ParamRefused(f"the model {model!r} makes vectors of {width} dimensions and cannot shorten them; "
                           f"leave 'dimensions' unset or give {width}", "dimensions", "unsupported_parameter")
    texts = input_texts(params)
    limit = min(request.model.context_length, int(llm.n_ctx()), int(llm._model.n_ctx_train()))
    counts = []
    for index, text in enumerate(texts):
        count = len(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))
        if count > limit:
            raise ParamRefused(f"input[{index}] takes {count} tokens, and the model {model!r} embeds at most "
                               f"{limit}; shorten or split it", f"input[{index}]", "context_length_exceeded")
        counts.append(count)
    vectors = llm.embed(texts, normalize=True, truncate=False)
    meter.prompt_tokens = sum(counts)
    meter.finished = True
    return embeddings_body(vectors, model, params.get("encoding_format") or "float")
