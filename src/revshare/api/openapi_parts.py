"""The building blocks of `/openapi.json`'s schemas, shared by `openapi` and `openapi_terms`."""

from __future__ import annotations

from typing import Any

__all__ = ["BOOL", "INSTANT", "INT", "OPT_STR", "STR", "Schema", "object_schema"]

Schema = dict[str, Any]

INT: Schema = {"type": "integer", "minimum": 0}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
OPT_STR: Schema = {"type": ["string", "null"]}
INSTANT: Schema = {"type": "string", "format": "date-time"}


def object_schema(required: list[str], properties: dict[str, Schema], *, closed: bool = False,
                  **extra: Any) -> Schema:
    """A JSON object with these properties; `closed` forbids any other."""
    schema: Schema = {"type": "object", "required": required, "properties": properties, **extra}
    if closed:
        schema["additionalProperties"] = False
    return schema
