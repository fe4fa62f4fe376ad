"""The embedded engine's own checks and its one translation of llama.cpp's errors (no model needed)."""

from __future__ import annotations

from typing import Any

import pytest

from revshare.engines.base import EngineError, EngineRejected, GenerationRequest
from revshare.engines.embedded import EmbeddedEngine
from tests.support.catalogs import make_catalog

CATALOG = make_catalog()
MODEL = CATALOG.models[0]


@pytest.fixture
def engine() -> EmbeddedEngine:
    unloaded = EmbeddedEngine(CATALOG.engines[0], list(CATALOG.models))
    # What _load() reads from llama.cpp's signatures, without loading a model.
    unloaded._chat_params = {"messages", "tools", "tool_choice", "logprobs", "top_logprobs", "logit_bias",
                             "response_format", "max_tokens", "model", "stream"}
    unloaded._completion_params = {"prompt", "logprobs", "max_tokens", "model", "stream"}
    return unloaded


def chat(**params: Any) -> GenerationRequest:
    return GenerationRequest("chat.completions", MODEL, {"messages": [{"role": "user", "content": "hi"}], **params})


def test_the_context_check_of_llama_cpp_becomes_context_length_exceeded(engine: EmbeddedEngine) -> None:
    error = engine._translate(ValueError("Requested tokens (5010) exceed context window of 2048"), chat())
    assert isinstance(error, EngineRejected)
    assert (error.code, error.param) == ("context_length_exceeded", "messages")
    assert "2048" in error.message and "5010" in error.message and "Requested" not in error.message
    text = GenerationRequest("completions", MODEL, {"prompt": "x"})
    assert engine._translate(ValueError("Requested tokens (9) exceed context window of 8"), text).param == "prompt"


@pytest.mark.parametrize("exc", [KeyError("content"), TypeError("x"), IndexError("y"), AssertionError("z")])
def test_any_other_llama_cpp_failure_is_an_engine_error_never_an_unhandled_one(
        engine: EmbeddedEngine, exc: Exception) -> None:
    error = engine._translate(exc, chat())
    assert type(error) is EngineError and error.code == "engine_error"
    assert error.message == f"engine 'local' failed ({type(exc).__name__})"


def test_messages_reach_llama_cpp_with_text_content(engine: EmbeddedEngine) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f",
                                                                                          "arguments": "{}"}}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
    ]
    kwargs = engine._kwargs(chat(messages=messages), stream=False)
    # The call is said in text (llama.cpp's formats drop tool_calls), and one turn per speaker.
    assert kwargs["messages"] == [{"role": "user", "content": "a\nb"}, {"role": "assistant", "content": (
        'Tool calls: [{"name": "f", "arguments": "{}"}]\n\nno')}]
    assert messages[1].get("content") is None  # the request itself is left as it was


def test_tool_results_and_developer_messages_are_not_dropped(engine: EmbeddedEngine) -> None:
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "weather?"},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                    "name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]
    kwargs = engine._kwargs(chat(messages=messages), stream=False)
    assert [m["role"] for m in kwargs["messages"]] == ["system", "user", "assistant", "user"]
    assert kwargs["messages"][0]["content"] == "Be brief."
    assert kwargs["messages"][3]["content"] == "Result of tool call c1: sunny"


def test_the_gemma_format_gets_the_system_text_in_the_first_user_turn(engine: EmbeddedEngine) -> None:
    engine.chat_formats[MODEL.id] = "gemma"  # llama-cpp-python's gemma format has no system turn
    messages = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "hi"}]
    kwargs = engine._kwargs(chat(messages=messages), stream=False)
    assert kwargs["messages"] == [{"role": "user", "content": "Answer in French.\n\nhi"}]


def test_json_schema_becomes_llama_cpps_schema_grammar(engine: EmbeddedEngine) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert engine._kwargs(chat(response_format=fmt), False)["response_format"] == {"type": "json_object",
                                                                                   "schema": schema}
    assert "response_format" not in engine._kwargs(chat(response_format={"type": "text"}), False)


def test_required_with_one_function_calls_it(engine: EmbeddedEngine) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    kwargs = engine._kwargs(chat(tools=tools, tool_choice="required"), False)
    assert kwargs["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert "tools" not in engine._kwargs(chat(tools=tools, tool_choice="none"), False)


@pytest.mark.parametrize(("params", "param", "code"), [
    ({"logprobs": True}, "logprobs", "unsupported_parameter"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "",
                                                                                        "format": "wav"}}]}]},
     "messages[0].content[0]", "invalid_value"),
    ({"tools": [{"type": "custom", "custom": {"name": "g"}}]}, "tools[0]", "unsupported_parameter"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}},
     "tool_choice", "unsupported_parameter"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tool_choice", "unsupported_parameter"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto"}, "tool_choice",
     "unsupported_parameter"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}],
      "tool_choice": "required"}, "tool_choice", "unsupported_parameter"),
    ({"tool_choice": "required"}, "tool_choice", "invalid_value"),
    ({"metadata": {"team": "x"}}, "metadata", "unsupported_parameter"),
    ({"store": True}, "store", "unsupported_parameter"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "wizard"}}}},
     "response_format.json_schema.schema", "invalid_value"),
])
def test_what_the_engine_cannot_do_is_refused_naming_the_param(
        engine: EmbeddedEngine, params: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(EngineRejected) as caught:
        engine._kwargs(chat(**params), stream=False)
    assert (caught.value.param, caught.value.code) == (param, code)


def test_a_completion_with_logprobs_is_refused(engine: EmbeddedEngine) -> None:
    with pytest.raises(EngineRejected) as caught:
        engine._kwargs(GenerationRequest("completions", MODEL, {"prompt": "x", "logprobs": 0}), stream=False)
    assert caught.value.param == "logprobs"


def test_a_function_without_parameters_gets_an_empty_object_schema(engine: EmbeddedEngine) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    kwargs = engine._kwargs(chat(tools=tools, tool_choice={"type": "function", "function": {"name": "f"}}), False)
    assert kwargs["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert "parameters" not in tools[0]["function"]


@pytest.mark.parametrize(("schema", "keyword", "where"), [
    ({"type": "integer", "maximum": 130}, "maximum", "(the root)"),
    ({"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}}, "minimum", "properties.age"),
    ({"type": "array", "items": {"type": "number", "multipleOf": 2}}, "multipleOf", "items"),
    ({"anyOf": [{"type": "string"}, {"type": "array", "uniqueItems": True}]}, "uniqueItems", "anyOf[1]"),
    ({"$defs": {"p": {"type": "object", "maxProperties": 3}}, "$ref": "#/$defs/p"}, "maxProperties", "$defs.p"),
])
def test_a_schema_keyword_the_grammar_cannot_enforce_is_refused_naming_it(
        engine: EmbeddedEngine, schema: dict[str, Any], keyword: str, where: str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    with pytest.raises(EngineRejected) as caught:
        engine._kwargs(chat(response_format=fmt), stream=False)
    assert caught.value.param == "response_format.json_schema.schema"
    assert f"{keyword!r} (at {where})" in caught.value.message


def test_a_property_named_like_a_keyword_is_only_a_name(engine: EmbeddedEngine) -> None:
    schema = {"type": "object", "properties": {"maximum": {"type": "integer"}, "not": {"type": "string"}}}
    kwargs = engine._kwargs(chat(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}),
                            stream=False)
    assert kwargs["response_format"] == {"type": "json_object", "schema": schema}
