"""What a usage line bills: the kind of its model, "chat" or "embedding".

A catalog model has exactly one kind (`revshare.config` `models[].kind`), and the gateway serves
it on that kind's endpoints only: an embedding model on POST /v1/embeddings, a chat model on
chat completions, completions and responses (`api.openai_routes._check_kind`). Lines are keyed by
model, so the kind is a function of the line's model: settlement labels each invoice line,
statement line and adjustment with it (`model_kind`) without another GROUP BY key, and the
renderers show embedding lines apart with their own subtotal.

Why not the records' `endpoint` as a key: a chat model's usage would split into three lines
(chat.completions, completions, responses), each rounded once, changing every chat invoice; and
the analytics store holds no endpoint column. A licensor's verifier still checks the label
against the leaves, which carry the endpoint (`endpoint_kind`; docs/VERIFY.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

__all__ = ["CHAT", "EMBEDDING", "MODEL_KINDS", "KindedModel", "apart", "endpoint_kind", "kind_groups", "kinds_of"]

CHAT = "chat"
EMBEDDING = "embedding"
MODEL_KINDS: tuple[str, str] = (CHAT, EMBEDDING)  # the order lines are grouped in


class KindedModel(Protocol):
    """What settlement reads of a catalog model: lineage (id, base model) and kind."""

    @property
    def id(self) -> str: ...
    @property
    def base_model(self) -> str | None: ...
    @property
    def kind(self) -> str: ...


def kinds_of(models: Iterable[KindedModel]) -> dict[str, str]:
    """Model id -> kind."""
    return {m.id: m.kind for m in models}


def endpoint_kind(endpoint: str) -> str:
    """The model kind a record's endpoint serves: "embeddings" -> embedding, every other -> chat."""
    return EMBEDDING if endpoint == "embeddings" else CHAT


Line = TypeVar("Line", bound=Mapping[str, Any])


def kind_groups(lines: Sequence[Line]) -> list[tuple[str, list[Line]]]:
    """A document's lines (JSON form) per `model_kind`, in `MODEL_KINDS` order, each group in the
    lines' own order; a line without the field (a document issued before it) counts as chat.
    One group of chat lines, or none, means there is nothing to show apart."""
    groups: dict[str, list[Line]] = {}
    for line in lines:
        groups.setdefault(str(line.get("model_kind", CHAT)), []).append(line)
    order = {k: i for i, k in enumerate(MODEL_KINDS)}
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def apart(lines: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a document's lines are shown in groups: some line bills something other than chat."""
    return any(str(line.get("model_kind", CHAT)) != CHAT for line in lines)
