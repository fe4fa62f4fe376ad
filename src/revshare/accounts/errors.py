"""Why an account change was refused: a kind the API maps to a status, a message, the field."""

from __future__ import annotations

from typing import Literal

__all__ = ["AccountError", "ErrorKind", "invalid"]

# invalid -> 400, not_found -> 404, conflict and managed_by_catalog -> 409
ErrorKind = Literal["invalid", "not_found", "conflict", "managed_by_catalog"]


class AccountError(Exception):
    def __init__(self, kind: ErrorKind, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.param = param


def invalid(message: str, param: str | None = None) -> AccountError:
    return AccountError("invalid", message, param)
