"""Which chat format drives an embedded model's chat completions.

For each model, the first that applies:

1. its `chat_format` in the catalog: a llama-cpp-python format name (`chatml`, `llama-3`,
   `mistral-instruct`, `gemma`, …) or `text`;
2. the GGUF's own chat template (its `tokenizer.chat_template` metadata), which llama-cpp-python
   reads at load when it is given no format: the right choice for an instruction-tuned GGUF;
3. `text`: the messages' contents, one after another, continued as plain text. A GGUF without a
   template is usually a base model, which follows no turn format but continues text well
   ("The capital of France is" …); a turn format it was never trained on makes it babble.

llama.cpp imports stay inside the functions: this module is imported only by the embedded engine.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TEMPLATE", "TEXT", "chat_handler", "text_prompt"]

TEXT = "text"
TEMPLATE = "gguf template"


def text_prompt(messages: list[dict[str, Any]]) -> str:
    """The `text` format's prompt: each message's content, a blank line between them."""
    return "\n\n".join(str(m.get("content") or "") for m in messages)


def _text_handler() -> Any:
    from llama_cpp import llama_chat_format

    def format_text(*, messages: list[Any], **_: Any) -> Any:
        return llama_chat_format.ChatFormatterResponse(prompt=text_prompt(messages))

    return llama_chat_format.chat_formatter_to_chat_completion_handler(format_text)


def chat_handler(llm: Any, configured: str | None) -> tuple[str, Any]:
    """The format a model's chat completions use on a loaded `Llama`: its name (for the log) and
    the handler to set as `llm.chat_handler`, None for llama-cpp-python's choice from the GGUF's
    template. Raises ValueError for a name llama-cpp-python does not know."""
    from llama_cpp import llama_chat_format

    if configured == TEXT:
        return TEXT, _text_handler()
    if configured is not None:
        try:
            return configured, llama_chat_format.get_chat_completion_handler(configured)
        except llama_chat_format.LlamaChatCompletionHandlerNotFoundException:
            registry: Any = llama_chat_format.LlamaChatCompletionHandlerRegistry  # untyped
            known = sorted(registry()._chat_handlers)
            raise ValueError(f"unknown chat_format {configured!r}; use {TEXT!r}, or leave it out to use the "
                             f"GGUF's chat template, or one of llama-cpp-python's: {', '.join(known)}") from None
    if "tokenizer.chat_template" in llm.metadata:
        return f"{TEMPLATE} ({llm.chat_format})", None
    return TEXT, _text_handler()
