"""Embeddings throughput through the gateway against the engine direct (all-MiniLM-L6-v2, llama.cpp).

Two engines, each measured direct and through a real `revshare serve` (SQLite ledger, every
request metered), with the same batches of sentences sent one request at a time:

- upstream: llama-cpp-python's own server in embedding mode (direct: POST its /v1/embeddings);
  the gateway forwards to it;
- embedded: the gateway runs the model in process; direct is `Llama.embed` in this process on the
  same GGUF (no HTTP at all), so that ratio includes HTTP and JSON as well as metering.

Every engine gets the same llama.cpp threads (`--threads`, default 1: on a shared 2-core machine,
two threads per engine thrash and measure the load, not the engine).

    .venv/bin/python bench/embeddings.py            # 40 requests of 16 sentences per cell, ~1 minute
    .venv/bin/python bench/embeddings.py --quick    # 10 requests per cell
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from overhead import free_port, wait_ready  # noqa: E402

CATALOG = """
[server]
commit_batch_max = 512

[[engines]]
id = "minilm"
kind = "embedded"
n_ctx = 512
n_threads = {threads}

[[engines]]
id = "llamacpp"
kind = "upstream"
base_url = "http://127.0.0.1:{port}/v1"

[[models]]
id = "minilm"
engine = "minilm"
kind = "embedding"
context_length = 512

[[models]]
id = "minilm-upstream"
engine = "llamacpp"
kind = "embedding"
context_length = 512
upstream_model = "minilm"

[[prices]]
model = "minilm"
input_per_million = "0.02"
output_per_million = "0"
effective_from = 2026-01-01

[[prices]]
model = "minilm-upstream"
input_per_million = "0.02"
output_per_million = "0"
effective_from = 2026-01-01

[[customers]]
name = "bench"
"""

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "bright", "stars",
         "rise", "above", "quiet", "hills"]


def batch(n: int, seed: int) -> list[str]:
    return [" ".join(WORDS[(seed + i + j) % len(WORDS)] for j in range(12)) for i in range(n)]


def timed(send: object, requests: int, size: int) -> float:
    """Inputs embedded per second over `requests` calls of `size` sentences."""
    start = time.perf_counter()
    for r in range(requests):
        send(batch(size, r))  # type: ignore[operator]
    return requests * size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads of each engine (default 1)")
    args = parser.parse_args()
    requests, size = (10, 16) if args.quick else (40, 16)

    from llama_cpp import Llama

    from revshare.engines.bert_gguf import default_embedding_model_path
    from revshare.ledger.store import Ledger

    path = default_embedding_model_path()
    tmp = Path(tempfile.mkdtemp(prefix="revshare-bench-emb-"))
    up_port, gw_port = free_port(), free_port()
    (tmp / "bench.toml").write_text(CATALOG.format(port=up_port, threads=args.threads))
    db_url = f"sqlite:///{tmp / 'ledger.db'}"
    ledger = Ledger(db_url)
    ledger.migrate()
    _, key = ledger.create_key("bench")
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", path, "--port", str(up_port),
                               "--embedding", "true", "--n_ctx", "512", "--n_batch", "512", "--n_ubatch", "512",
                               "--model_alias", "minilm", "--n_threads", str(args.threads),
                               "--n_threads_batch", str(args.threads)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = subprocess.Popen([sys.executable, "-m", "revshare.cli", "serve", "--config", str(tmp / "bench.toml"),
                                "--port", str(gw_port), "--log-level", "warning"],
                               env={**os.environ, "REVSHARE_DATABASE_URL": db_url}, stdout=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/v1/models")
        wait_ready(f"http://127.0.0.1:{gw_port}/healthz")
        http = httpx.Client(timeout=120)
        auth = {"Authorization": f"Bearer {key}"}

        def post(url: str, model: str, headers: dict[str, str]) -> object:
            def send(texts: list[str]) -> None:
                r = http.post(url, json={"model": model, "input": texts, "encoding_format": "float"}, headers=headers)
                r.raise_for_status()
            return send

        gw = f"http://127.0.0.1:{gw_port}/v1/embeddings"
        llm = Llama(model_path=path, embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, verbose=False,
                    n_threads=args.threads, n_threads_batch=args.threads)
        before = ledger.count()
        cells = [
            ("upstream (llama_cpp.server)", post(f"http://127.0.0.1:{up_port}/v1/embeddings", "minilm", {}),
             post(gw, "minilm-upstream", auth)),
            ("embedded (llama.cpp in process)", lambda texts: llm.embed(texts, normalize=True),
             post(gw, "minilm", auth)),
        ]
        print(f"{requests} requests of {size} sentences (12 words each) per cell, one at a time\n")
        print(f"{'engine':<34} {'direct inputs/s':>15} {'gateway inputs/s':>16} {'ratio':>6}")
        for name, direct, via in cells:
            direct(batch(size, 0))  # warm up
            via(batch(size, 0))  # type: ignore[operator]
            d, g = timed(direct, requests, size), timed(via, requests, size)
            print(f"{name:<34} {d:>15.0f} {g:>16.0f} {g / d:>6.2f}")
        print(f"\nrecords metered: {ledger.count() - before} (expected {2 * (requests + 1)})")
    finally:
        gateway.terminate()
        server.terminate()
        gateway.wait(20)
        server.wait(20)


if __name__ == "__main__":
    main()
