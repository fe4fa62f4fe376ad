"""Form fields to the admin API's wire models, and every refusal to a message next to its field.

A form sends text; the admin API's models (`CustomerIn`, `CustomerChange`, `LimitsIn`) are
strict. Here an empty limit is "no limit", a count must be a whole number, models are split on
commas and spaces, and then the same models and the same `customer_of` / `limits_of` as the
admin API validate it, so the console accepts exactly what the API accepts.

    customer_in(fields)      -> Customer              or raises FormInvalid({field: message})
    customer_change(fields)  -> {field: value}        every field of the edit form
    key_limits(fields)       -> Limits | None         None when every limit is left empty
    label_of(fields)         -> str
    field_errors(AccountError) -> {field: message}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from revshare.accounts.errors import AccountError
from revshare.accounts.store import customer_of, limits_of
from revshare.api.admin_accounts import CustomerChange, CustomerIn, LimitsIn
from revshare.config.sections import Customer, Limits
from revshare.ledger.store import LABEL_MAX

__all__ = ["COUNTS", "LIMITS", "FormInvalid", "customer_change", "customer_in", "field_errors", "key_limits",
           "label_of", "limits_form", "models_text"]

COUNTS = ("requests_per_minute", "tokens_per_minute", "max_concurrent")
LIMITS = (*COUNTS, "budget", "budget_period")
PERIODS = ("month", "day", "total")

HINTS = {
    "name": "1 to 128 characters: letters, digits and . _ : / @ -, starting with a letter or a digit",
    "models": "one or more model ids or globs (such as gemma-* or *), separated by commas or spaces",
    "description": "at most 1000 characters",
    "requests_per_minute": "a whole number, 1 or more; empty for no limit",
    "tokens_per_minute": "a whole number, 1 or more; empty for no limit",
    "max_concurrent": "a whole number, 1 or more; empty for no limit",
    "budget": "an amount such as 50 or 12.50 (at most 12 decimal places); empty for no budget",
    "budget_period": "month, day or total",
    "label": f"at most {LABEL_MAX} printable characters",
    "customer": "choose a customer",
}

M = TypeVar("M", bound=BaseModel)


class FormInvalid(Exception):
    """Some fields are wrong; nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def models_text(models: tuple[str, ...] | list[str]) -> str:
    return ", ".join(models)


def limits_form(limits: Limits | None) -> dict[str, str]:
    """A form's values for these limits (empty: no limit)."""
    if limits is None:
        return {name: "" for name in LIMITS} | {"budget_period": "month"}
    values = {name: "" if getattr(limits, name) is None else str(getattr(limits, name)) for name in COUNTS}
    return values | {"budget": "" if limits.budget is None else format(limits.budget, "f"),
                     "budget_period": limits.budget_period}


def _limit_values(fields: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in COUNTS:
        raw = fields.get(name, "").strip()
        if not raw:
            values[name] = None
        elif raw.isascii() and raw.isdigit() and len(raw) <= 19:
            values[name] = int(raw)
        else:
            errors[name] = HINTS[name]
    budget = fields.get("budget", "").strip()
    values["budget"] = budget or None
    period = fields.get("budget_period", "month").strip() or "month"
    if period in PERIODS:
        values["budget_period"] = period
    else:
        errors["budget_period"] = HINTS["budget_period"]
    return values


def _validate(model: type[M], values: dict[str, Any], errors: dict[str, str]) -> M | None:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = error.get("loc", ())
            name = str(loc[0]) if loc else "form"
            errors.setdefault(name, HINTS.get(name, str(error.get("msg", "invalid"))))
        return None


def field_errors(exc: AccountError) -> dict[str, str]:
    """An account refusal as a message next to its field (the first part of its `param`)."""
    name = (exc.param or "form").split(".")[0]
    return {name: exc.message}


def _customer_values(fields: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    values = _limit_values(fields, errors)
    models = [m for m in re.split(r"[\s,]+", fields.get("models", "")) if m]
    if models:
        values["models"] = models
    else:
        errors["models"] = HINTS["models"]
    values["description"] = fields.get("description", "").strip()
    return values


def customer_in(fields: Mapping[str, str]) -> Customer:
    errors: dict[str, str] = {}
    values = _customer_values(fields, errors)
    values["name"] = fields.get("name", "").strip()
    body = _validate(CustomerIn, {k: v for k, v in values.items() if k not in errors}, errors)
    if errors or body is None:
        raise FormInvalid(errors or {"form": "this form is not valid"})
    try:
        return customer_of(body.name, body.model_dump(exclude={"name"}))
    except AccountError as exc:
        raise FormInvalid(field_errors(exc)) from None


def customer_change(fields: Mapping[str, str]) -> dict[str, Any]:
    """Every field of the edit form, validated (an empty limit clears it)."""
    errors: dict[str, str] = {}
    values = _customer_values(fields, errors)
    body = _validate(CustomerChange, {k: v for k, v in values.items() if k not in errors}, errors)
    if errors or body is None:
        raise FormInvalid(errors or {"form": "this form is not valid"})
    return {name: getattr(body, name) for name in ("models", "description", *LIMITS)}


def key_limits(fields: Mapping[str, str]) -> Limits | None:
    """The key's own limits, or None when the form leaves them all empty."""
    errors: dict[str, str] = {}
    values = _limit_values(fields, errors)
    body = _validate(LimitsIn, {k: v for k, v in values.items() if k not in errors}, errors)
    if errors or body is None:
        raise FormInvalid(errors or {"form": "these limits are not valid"})
    if all(getattr(body, name) is None for name in (*COUNTS, "budget")):
        return None
    try:
        return limits_of(body.model_dump())
    except AccountError as exc:
        raise FormInvalid(field_errors(exc)) from None


def label_of(fields: Mapping[str, str]) -> str:
    label = fields.get("label", "").strip()
    if len(label) > LABEL_MAX or not label.isprintable():
        raise FormInvalid({"label": HINTS["label"]})
    return label
