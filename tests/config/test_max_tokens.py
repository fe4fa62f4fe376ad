"""Every model has a default and a most max_tokens: set in the catalog or derived from its context,
checked with errors naming file, entry and field, and applied by admission (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from revshare.config import ConfigError, load_catalog, parse_catalog
from revshare.config.sections import DEFAULT_MAX_TOKENS
from revshare.metering.admission import Ask, admit
from revshare.metering.meter import Admitted
from revshare.metering.refusal import Refusal, RefusalKind
from tests.support.catalogs import catalog_dict
from tests.support.paths import REPO

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def model(**fields: Any) -> Any:
    raw = catalog_dict()
    raw["models"][0].update(fields)
    return parse_catalog(raw, source="test.toml").models[0]


def error_lines(**fields: Any) -> list[str]:
    raw = catalog_dict()
    raw["models"][0].update(fields)
    with pytest.raises(ConfigError) as caught:
        parse_catalog(raw, source="test.toml")
    return str(caught.value).splitlines()


@pytest.mark.parametrize(("fields", "default", "most"), [
    ({}, DEFAULT_MAX_TOKENS, 2048),  # unset: the context is the most, and a bounded default
    ({"context_length": 300}, 300, 300),  # a small context: the default is all of it
    ({"max_tokens_limit": 100}, 100, 100),  # the default follows the limit down
    ({"default_max_tokens": 64}, 64, 2048),
    ({"default_max_tokens": 64, "max_tokens_limit": 256}, 64, 256),
    ({"default_max_tokens": 2048, "max_tokens_limit": 2048}, 2048, 2048),
])
def test_each_model_has_a_default_and_a_most(fields: dict[str, int], default: int, most: int) -> None:
    m = model(**fields)
    assert (m.max_tokens_when_unset, m.most_max_tokens) == (default, most)
    assert m.max_tokens_for(None) == default
    assert m.max_tokens_for(7) == 7


def test_the_demo_catalog_keeps_every_example_short() -> None:
    demo = load_catalog(REPO / "revshare.toml").models[0]
    assert (demo.default_max_tokens, demo.max_tokens_limit) == (64, 256)


@pytest.mark.parametrize(("fields", "line"), [
    ({"max_tokens_limit": 4096},
     "test.toml: models[0] (id='gemma-3-270m').max_tokens_limit: 4096 is more than context_length (2048)"),
    ({"default_max_tokens": 300, "max_tokens_limit": 256},
     "test.toml: models[0] (id='gemma-3-270m').default_max_tokens: 300 is more than max_tokens_limit (256)"),
    ({"default_max_tokens": 3000},
     "test.toml: models[0] (id='gemma-3-270m').default_max_tokens: 3000 is more than context_length (2048)"),
    ({"default_max_tokens": 0},
     "test.toml: models[0] (id='gemma-3-270m').default_max_tokens: Input should be greater than or equal to 1"),
    ({"max_tokens_limit": 2.5},
     "test.toml: models[0] (id='gemma-3-270m').max_tokens_limit: Input should be a valid integer, got a number "
     "with a fractional part"),
])
def test_a_bad_setting_names_file_entry_and_field(fields: dict[str, Any], line: str) -> None:
    assert line in error_lines(**fields)


def test_an_empty_chat_format_is_refused_and_unset_is_the_gguf_template() -> None:
    assert model().chat_format is None
    assert any(".chat_format: String should have at least 1 character" in x for x in error_lines(chat_format=""))


def ask(max_tokens: int | None) -> Ask:
    return Ask("demo", "key_1", "gemma-3-270m", "chat.completions", False, max_tokens)


def limited_catalog() -> Any:
    raw = catalog_dict()
    raw["models"][0].update(default_max_tokens=64, max_tokens_limit=256)
    return parse_catalog(raw, source="test.toml")


@pytest.mark.parametrize("max_tokens", [None, 1, 64, 256])
def test_admission_lets_in_what_the_limit_allows(max_tokens: int | None) -> None:
    assert isinstance(admit(limited_catalog(), {"local"}, ask(max_tokens), NOW), Admitted)


def test_admission_refuses_more_than_the_limit_naming_max_tokens_and_the_limit() -> None:
    refusal = admit(limited_catalog(), {"local"}, ask(257), NOW)
    assert isinstance(refusal, Refusal)
    assert (refusal.kind, refusal.param) == (RefusalKind.CONTEXT_LENGTH_EXCEEDED, "max_tokens")
    assert refusal.message == ("max_tokens is 257, but 'gemma-3-270m' allows at most 256; leave max_tokens out "
                               "for the default of 64")


def test_without_a_limit_the_context_is_the_limit() -> None:
    raw = catalog_dict()
    refusal = admit(parse_catalog(raw, source="test.toml"), {"local"}, ask(2049), NOW)
    assert isinstance(refusal, Refusal) and refusal.param == "max_tokens"
    assert refusal.message.startswith("max_tokens is 2049, but 'gemma-3-270m' has a context of 2048 tokens")


def test_the_own_gguf_example_in_config_md_is_a_valid_catalog() -> None:
    import tomllib

    doc = (REPO / "docs" / "CONFIG.md").read_text()
    example = doc.split("### Serving your own GGUF", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    raw = tomllib.loads(example)
    raw["prices"] = [{"model": raw["models"][0]["id"], "input_per_million": "0.10", "output_per_million": "0.40",
                      "effective_from": "2026-01-01T00:00:00Z"}]
    qwen = parse_catalog(raw, source="CONFIG.md").models[0]
    assert (qwen.chat_format, qwen.max_tokens_when_unset, qwen.most_max_tokens) == (None, 512, 2048)
