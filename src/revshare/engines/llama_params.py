"""What the embedded engine does with each chat and completion parameter: honour it, or refuse it.

Nothing a client asks for is dropped without a word (docs/API.md, "Parameters by engine"):

- `response_format`: `json_object` and `json_schema` become a llama.cpp grammar (the reply is JSON,
  and follows the schema when one is given); a schema llama.cpp cannot turn into a grammar is refused.
- `tools`: a function is called when `tool_choice` names it (or is `required` with one function):
  its `parameters` schema becomes the grammar. `auto` (the default with tools) and `required` with
  several functions are refused: the model cannot choose on its own whether and which to call.
- messages: `developer` is a system message; a `tool` result and an assistant's `tool_calls`
  become text turns (llama.cpp's chat formats drop those roles otherwise), and with the `gemma`
  format, which has no system turn, the system text opens the first user turn (as Gemma's own
  template does). Content parts other than text are refused.
- `logprobs`, `metadata`, `store: true`, a completion's `suffix`: refused (the model is loaded without logits; revshare
  stores no completions). `seed` is passed to llama.cpp's sampler: the same request and seed give
  the same reply. `user` and `parallel_tool_calls` are accepted (at most one call is made).

Each refusal is a `ParamRefused` (400, recorded `rejected`, charged nothing) naming the parameter.
"""

from __future__ import annotations

import json
from typing import Any

from revshare.engines.base import EngineRejected

__all__ = ["ParamRefused", "chat_messages", "check_chat", "check_common"]


class ParamRefused(EngineRejected):
    """What this engine cannot do for the request: a 400 naming the parameter, with its own code."""

    def __init__(self, message: str, param: str, code: str) -> None:
        super().__init__(message, param=param)
        self.code = code


def _unsupported(message: str, param: str) -> ParamRefused:
    return ParamRefused(message, param, "unsupported_parameter")


def check_common(params: dict[str, Any], model: str, vocab: int | None, chat: bool) -> None:
    """Checks for both endpoints: logprobs, metadata, store, suffix, logit_bias token ids."""
    if params.get("logprobs") if chat else params.get("logprobs") is not None:
        raise _unsupported(f"the embedded engine keeps no logprobs (model {model!r}); leave 'logprobs' unset",
                           "logprobs")
    if params.get("metadata") is not None:
        raise _unsupported("the embedded engine stores no completions, so it takes no 'metadata' (which labels "
                           "stored completions); leave it unset", "metadata")
    if not chat and params.get("suffix") is not None:
        raise _unsupported(f"the model {model!r} cannot fill in text before a suffix; leave 'suffix' unset", "suffix")
    if params.get("store"):
        raise _unsupported("the embedded engine stores no completions; leave 'store' unset or false", "store")
    for token in params.get("logit_bias") or {}:
        if vocab is not None and int(token) >= vocab:
            raise ParamRefused(f"token {token} is not in the vocabulary of {model!r} (token ids 0 to {vocab - 1})",
                               "logit_bias", "invalid_value")


def check_chat(params: dict[str, Any]) -> None:
    """Tools and response_format as llama.cpp's chat handler reads them (a grammar for each)."""
    _check_tools(params)
    fmt = params.get("response_format")
    if fmt is None or fmt.get("type") == "text":
        params.pop("response_format", None)
        return
    if fmt.get("type") == "json_schema":
        schema = fmt["json_schema"].get("schema") or {"type": "object"}
        _grammar(schema, "response_format.json_schema.schema")
        params["response_format"] = {"type": "json_object", "schema": schema}


# What llama.cpp's schema-to-grammar converter reads past without a word: a reply could break it.
_UNENFORCED = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems", "not", "if",
    "then", "else", "contains", "minContains", "maxContains", "patternProperties", "propertyNames",
    "dependentRequired", "dependentSchemas", "minProperties", "maxProperties", "unevaluatedProperties",
    "unevaluatedItems"})


def _unenforced(schema: Any) -> tuple[str, str] | None:
    """The first keyword of `schema` the grammar would not enforce, and where it is (a dotted path)."""
    stack: list[tuple[Any, str]] = [(schema, "")]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict):
            continue
        for keyword in sorted(_UNENFORCED.intersection(node)):
            return keyword, path or "(the root)"
        below: list[tuple[Any, str]] = []
        for key in ("properties", "$defs", "definitions"):
            if isinstance(node.get(key), dict):
                below += [(child, f"{path}.{key}.{name}".lstrip(".")) for name, child in node[key].items()]
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if isinstance(node.get(key), list):
                below += [(child, f"{path}.{key}[{n}]".lstrip(".")) for n, child in enumerate(node[key])]
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                below.append((node[key], f"{path}.{key}".lstrip(".")))
            elif key == "items" and isinstance(node.get(key), list):
                below += [(child, f"{path}.items[{n}]".lstrip(".")) for n, child in enumerate(node[key])]
        stack += reversed(below)
    return None


def _grammar(schema: dict[str, Any], param: str) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    found = _unenforced(schema)
    if found is not None:
        keyword, where = found
        raise ParamRefused(f"the embedded engine cannot enforce {keyword!r} (at {where}) of a JSON schema: its "
                           "grammar would let the reply break it; leave the keyword out, or use a model on an "
                           "upstream engine", param, "invalid_value")
    try:
        LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:  # the converter fails as it may (AssertionError, KeyError, TypeError)
        raise ParamRefused(f"the embedded engine cannot follow this JSON schema: {str(exc)[:200]}", param,
                           "invalid_value") from exc


def _check_tools(params: dict[str, Any]) -> None:
    """Functions only; a call only where the function is named (then its schema is the grammar)."""
    params.pop("parallel_tool_calls", None)  # at most one call is ever made: either value holds
    tools = params.get("tools") or []
    for number, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise _unsupported(f"the embedded engine calls functions only, not {tool.get('type')!r} tools",
                               f"tools[{number}]")
    choice = params.get("tool_choice")
    if not tools:
        params.pop("tools", None)
        if isinstance(choice, dict) or choice == "required":
            raise ParamRefused("tool_choice names a tool, but the request has no tools", "tool_choice",
                               "invalid_value")
        params.pop("tool_choice", None)
        return
    # llama.cpp reads every function's parameters; OpenAI lets a function have none
    params["tools"] = tools = [{**t, "function": {"parameters": {"type": "object", "properties": {}},
                                                  **t["function"]}} for t in tools]
    if choice == "none":
        params.pop("tools")
        params.pop("tool_choice")
        return
    if choice == "required" and len(tools) == 1:
        choice = params["tool_choice"] = {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
    if choice is None or choice in ("auto", "required"):
        raise _unsupported(
            f"the embedded engine cannot let the model choose whether and which tool to call (tool_choice "
            f"{choice or 'auto'!r}); name the function ({{\"type\": \"function\", \"function\": {{\"name\": ...}}}}) "
            "or set tool_choice 'none'", "tool_choice")
    if choice.get("type") != "function":
        raise _unsupported(f"the embedded engine takes tool_choice 'none', 'required' or a function, not "
                           f"{choice.get('type')!r}", "tool_choice")
    name = choice["function"]["name"]
    chosen = next((n for n, t in enumerate(tools) if t["function"]["name"] == name), None)
    if chosen is None:
        raise ParamRefused(f"tool_choice names {name!r}, which is not one of the tools", "tool_choice.function.name",
                           "invalid_value")
    _grammar(tools[chosen]["function"]["parameters"], f"tools[{chosen}].function.parameters")


def chat_messages(messages: list[dict[str, Any]], model: str, chat_format: str) -> list[dict[str, Any]]:
    """Messages as llama.cpp's chat formats read them: text content, roles they know, nothing lost."""
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message["role"]
        text = _text(message.get("content"), index, model)
        if role == "developer":
            role = "system"
        elif role == "tool":
            role, text = "user", f"Result of tool call {message.get('tool_call_id', '')}: {text}"
        elif role == "assistant" and message.get("tool_calls"):
            calls = [{"name": c.get("function", c.get("custom", {})).get("name"),
                      "arguments": c.get("function", {}).get("arguments", c.get("custom", {}).get("input"))}
                     for c in message["tool_calls"]]
            text = "\n".join(filter(None, [text, "Tool calls: " + json.dumps(calls)]))
        if out and out[-1]["role"] == role and role != "system":
            out[-1]["content"] += "\n\n" + text  # one turn per speaker, as turn formats expect
        else:
            out.append({"role": role, "content": text})
    if chat_format == "gemma":
        return _system_into_first_user_turn(out)
    return out


def _system_into_first_user_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [m for m in messages if m["role"] != "system"]
    if not system:
        return rest
    if rest and rest[0]["role"] == "user":
        return [{"role": "user", "content": system + "\n\n" + rest[0]["content"]}, *rest[1:]]
    return [{"role": "user", "content": system}, *rest]


def _text(content: Any, index: int, model: str) -> str:
    if not isinstance(content, list):
        return str(content or "")
    texts = []
    for number, part in enumerate(content):
        kind = part.get("type")
        if kind not in ("text", "refusal"):
            raise ParamRefused(f"the model {model!r} reads text only: a content part of type {kind!r} cannot "
                               "be given to it", f"messages[{index}].content[{number}]", "invalid_value")
        texts.append(part[kind])
    return "\n".join(texts)
