"""Which chat format an embedded model chats in, with the real model (issue 11).

A GGUF with a chat template is driven by its template; one without (the bundled Gemma 3 270M base
model) by the `text` format, which continues the messages as plain text; a model's `chat_format`
wins over both; an unknown one stops the engine at start. The format is seen in the prompt tokens
llama.cpp evaluated: each format makes a different prompt of the same message.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import BinaryIO

import pytest

from revshare.config import parse_catalog
from revshare.engines.base import EngineUnavailable, GenerationRequest, UsageMeter
from revshare.engines.chat_formats import TEMPLATE, TEXT
from revshare.engines.embedded import EmbeddedEngine
from tests.support.catalogs import catalog_dict

pytestmark = pytest.mark.engine

# A template no known format matches, so llama-cpp-python uses it as it is (chat_template.default).
TEMPLATE_TEXT = ("{% for m in messages %}<<{{ m['role'] }}>> {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<<assistant>>{% endif %}")
MESSAGE = "Paris is the capital of"

# GGUF value types (ggml/docs/gguf.md): fixed sizes, 8 a string, 9 an array.
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _u32(f: BinaryIO) -> int:
    return int(struct.unpack("<I", f.read(4))[0])


def _u64(f: BinaryIO) -> int:
    return int(struct.unpack("<Q", f.read(8))[0])


def _string(f: BinaryIO) -> str:
    return f.read(_u64(f)).decode()


def _skip(f: BinaryIO, kind: int) -> None:
    if kind in _SIZES:
        f.seek(_SIZES[kind], 1)
    elif kind == 8:
        f.seek(_u64(f), 1)
    else:
        element, count = _u32(f), _u64(f)
        if element in _SIZES:
            f.seek(_SIZES[element] * count, 1)
        else:
            for _ in range(count):
                _skip(f, element)


def with_chat_template(source: Path, target: Path, template: str) -> None:
    """A copy of a GGUF (v2 or v3) with `tokenizer.chat_template` added to its metadata."""
    with source.open("rb") as f:
        magic, version = f.read(4), _u32(f)
        assert magic == b"GGUF" and version >= 2
        tensors, kvs = _u64(f), _u64(f)
        alignment = 32
        for _ in range(kvs):
            key, kind = _string(f), _u32(f)
            if key == "general.alignment":
                alignment = _u32(f)
            else:
                _skip(f, kind)
        kv_end = f.tell()
        for _ in range(tensors):
            _string(f)
            f.seek(8 * _u32(f) + 4 + 8, 1)  # dims, type, offset (relative to the data, so unchanged)
        infos_end = f.tell()
        data_start = -(-infos_end // alignment) * alignment
        f.seek(24)
        kv_bytes = f.read(kv_end - 24)
        info_bytes = f.read(infos_end - kv_end)

        def string(text: str) -> bytes:
            return struct.pack("<Q", len(text.encode())) + text.encode()

        head = (b"GGUF" + struct.pack("<IQQ", version, tensors, kvs + 1) + kv_bytes
                + string("tokenizer.chat_template") + struct.pack("<I", 8) + string(template) + info_bytes)
        with target.open("wb") as out:
            out.write(head + b"\0" * (-len(head) % alignment))
            f.seek(data_start)
            shutil.copyfileobj(f, out, 1 << 22)


@pytest.fixture(scope="module")
def templated_gguf(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("gguf") / "with-template.gguf"
    with_chat_template(Path(model_path), target, TEMPLATE_TEXT)
    return str(target)


def engine_for(path: str, *formats: str | None) -> EmbeddedEngine:
    """One embedded engine on `path` with a model per chat format (m0, m1, …)."""
    raw = catalog_dict(engines=[{"id": "local", "kind": "embedded", "n_ctx": 512, "model_path": path}])
    base = raw["models"][0]
    raw["models"] = [{**base, "id": f"m{i}", "context_length": 512,
                      **({"chat_format": f} if f is not None else {})} for i, f in enumerate(formats)]
    raw["prices"] = [{**raw["prices"][0], "model": f"m{i}"} for i in range(len(formats))]
    catalog = parse_catalog(raw, source="test.toml")
    return EmbeddedEngine(catalog.engines[0], list(catalog.models))


async def prompt_tokens(engine: EmbeddedEngine, model_index: int) -> int:
    model = engine._models[f"m{model_index}"]
    meter = UsageMeter()
    request = GenerationRequest("chat.completions", model, {"messages": [{"role": "user", "content": MESSAGE}],
                                                             "max_tokens": 1})
    await engine.complete(request, meter)
    return meter.prompt_tokens


def tokens(engine: EmbeddedEngine, text: str, bos: bool) -> int:
    return len(engine._llm.tokenize(text.encode(), add_bos=bos, special=True))


async def test_a_gguf_with_a_template_chats_in_it_unless_the_model_names_a_format(templated_gguf: str) -> None:
    engine = engine_for(templated_gguf, None, TEXT, "chatml")
    await engine.start()
    try:
        assert engine.chat_formats == {"m0": f"{TEMPLATE} (chat_template.default)", "m1": TEXT, "m2": "chatml"}
        rendered = f"<<user>> {MESSAGE}\n<<assistant>>"
        assert await prompt_tokens(engine, 0) == tokens(engine, rendered, bos=False)
        assert await prompt_tokens(engine, 1) == tokens(engine, MESSAGE, bos=True)
        from llama_cpp import llama_chat_format

        chatml = llama_chat_format.format_chatml(messages=[{"role": "user", "content": MESSAGE}]).prompt
        assert await prompt_tokens(engine, 2) == tokens(engine, chatml, bos=True)
    finally:
        await engine.close()


async def test_a_gguf_without_a_template_continues_the_messages_as_text(model_path: str) -> None:
    engine = engine_for(model_path, None, "gemma")
    await engine.start()
    try:
        assert engine.chat_formats == {"m0": TEXT, "m1": "gemma"}
        assert await prompt_tokens(engine, 0) == tokens(engine, MESSAGE, bos=True)
        assert await prompt_tokens(engine, 1) > tokens(engine, MESSAGE, bos=True)  # the Gemma turn markers
    finally:
        await engine.close()


async def test_an_unknown_chat_format_stops_the_engine_naming_model_and_choices(model_path: str) -> None:
    engine = engine_for(model_path, "chatlm")
    try:
        with pytest.raises(EngineUnavailable) as caught:
            await engine.start()
        message = caught.value.message
        assert message.startswith("engine 'local', model 'm0': unknown chat_format 'chatlm'; use 'text'")
        assert "chatml" in message and "llama-3" in message
    finally:
        await engine.close()
