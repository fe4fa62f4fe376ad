"""Token counters for engines that report no usage: a GGUF model's own vocabulary."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache

from revshare.config import Catalog, ModelConfig

__all__ = ["catalog_counter"]


@cache
def _gguf_counter(path: str) -> Callable[[str], int]:
    from llama_cpp import Llama

    vocab = Llama(model_path=path, vocab_only=True, verbose=False)
    lock = threading.Lock()

    def count(text: str) -> int:
        with lock:
            return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    return count


def _resolve(spec: str) -> str:
    if spec == "bundled":
        from revshare.engines.embedded import default_model_path

        return default_model_path()
    return spec


def catalog_counter(catalog: Catalog) -> Callable[[ModelConfig, str], int] | None:
    """A counter for the catalog's models that declare a tokenizer, or None if none does."""
    specs = {m.id: m.tokenizer for m in catalog.models if m.tokenizer}
    if not specs:
        return None

    def count(model: ModelConfig, text: str) -> int:
        spec = specs.get(model.id)
        if spec is None:
            return max(1, (len(text) + 3) // 4) if text else 0
        return _gguf_counter(_resolve(spec))(text)

    return count
