"""llama.cpp's AMX kernels: a native build on a CPU with AMX crashes in the first decode of Q4_K
weights (ggml-org/llama.cpp#20824). The project's build leaves them out (Makefile), and an
embedded engine loaded on a build that has them says so, with the command that rebuilds it."""

from __future__ import annotations

import logging

import llama_cpp
import pytest

from revshare.engines.embedded import EmbeddedEngine, amx_warning
from revshare.metrics import Metrics
from tests.support.catalogs import make_catalog

# What llama_print_system_info() printed for a native build on this kind of machine, and for the
# Makefile's AVX2 build.
NATIVE = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
          "AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | "
          "OPENMP = 1 | REPACK = 1 | ")
AVX2 = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | "


def test_a_build_with_amx_kernels_is_named_with_the_issue_and_the_rebuild() -> None:
    warning = amx_warning(NATIVE)
    assert warning is not None
    assert "AMX_INT8 = 1" in warning and "ggml-org/llama.cpp#20824" in warning
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON' in warning and "--no-cache-dir" in warning


@pytest.mark.parametrize("info", [AVX2, "", "CPU : AMX_INT8 = 0 | AVX2 = 1 | "])
def test_a_build_without_them_says_nothing(info: str) -> None:
    assert amx_warning(info) is None


@pytest.mark.engine
def test_the_installed_build_has_no_amx_kernels() -> None:
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    assert amx_warning(info) is None, f"llama-cpp-python was built with AMX: {info}"


@pytest.mark.engine
async def test_loading_on_a_build_with_amx_logs_the_warning(model_path: str, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: NATIVE.encode())
    catalog = make_catalog(engines=[{"id": "local", "kind": "embedded", "n_ctx": 512, "model_path": model_path}])
    engine = EmbeddedEngine(catalog.engines[0], list(catalog.models), Metrics())
    with caplog.at_level(logging.WARNING, logger="revshare.engines"):
        await engine.start()
    try:
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(m.startswith("engine 'local': llama.cpp was built with AMX kernels") for m in warned), warned
    finally:
        await engine.close()
