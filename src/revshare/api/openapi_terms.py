"""The licence-terms schemas of `/openapi.json` (docs/LICENSING.md): the terms passed on with each
model, a customer's standing and acceptances, the monthly active users (exact and live) and the
suspensions of model access. Merged into `revshare.api.openapi.SCHEMAS`."""

from __future__ import annotations

from revshare.api.openapi_parts import BOOL as _BOOL
from revshare.api.openapi_parts import INSTANT as _INSTANT
from revshare.api.openapi_parts import INT as _INT
from revshare.api.openapi_parts import OPT_STR as _OPT_STR
from revshare.api.openapi_parts import STR as _STR
from revshare.api.openapi_parts import Schema
from revshare.api.openapi_parts import object_schema as _object

__all__ = ["TERMS_SCHEMAS"]




_TERMS = _object(
    ["id", "name", "version", "url", "use_policy_url", "attribution", "acceptance_required"],
    {"id": _STR, "name": _STR, "version": _STR, "url": _STR, "use_policy_url": _OPT_STR,
     "attribution": {"type": ["string", "null"], "description": "what the host displays, e.g. Built with Llama"},
     "acceptance_required": _BOOL},
    description="A licence's terms: the agreement, its use policy and the attribution to show")
_STANDING = {"type": "string", "enum": ["accepted", "grace", "pending", "not_required"],
             "description": "accepted (the current version), grace (an earlier one, within the grace period), "
                            "pending (must accept before calling), not_required"}
_MODEL_LICENCE = _object([*_TERMS["required"], "status"], {**_TERMS["properties"], "status": _STANDING},
                         closed=True, description="A licence binding a model, and where this key's customer stands")
_ACCEPTANCE = _object(
    ["seq", "customer", "terms_id", "version", "accepted_at", "actor", "via", "note"],
    {"seq": {"type": "integer", "minimum": 1}, "customer": _STR, "terms_id": _STR, "version": _STR,
     "accepted_at": _INSTANT, "actor": {"type": "string", "description": "key:<key_id>, admin (<name>) or cli:<login>"},
     "via": {"type": "string", "enum": ["api", "console", "cli"]}, "note": _STR},
    closed=True, description="One acceptance of one version of a licence's terms (append-only)")
_SUSPENSION = _object(
    ["object", "seq", "customer", "model", "action", "at", "actor", "via", "reason"],
    {"object": {"const": "model.suspension"}, "seq": {"type": "integer", "minimum": 1}, "customer": _STR,
     "model": _STR, "action": {"type": "string", "enum": ["suspend", "lift"]}, "at": _INSTANT,
     "actor": {"type": "string", "description": "admin (<name>) or cli:<login>"},
     "via": {"type": "string", "enum": ["api", "console", "cli"]},
     "reason": {"type": "string", "description": "the use-policy violation, or why the suspension ends"}},
    closed=True, description="A suspension of one customer's access to one model, or its lifting (append-only)")
_THRESHOLD = _object(["terms_id", "users", "state"], {
    "terms_id": _STR, "users": {"type": "integer", "minimum": 1},
    "state": {"type": "string", "enum": ["below", "near", "over"],
              "description": "over: reached; near: from 80% of it"}}, closed=True)



TERMS_SCHEMAS: dict[str, Schema] = {
    "ModelLicence": _MODEL_LICENCE,
    "TermsAcceptance": _object(["object", *_ACCEPTANCE["required"], "recorded"], {
        "object": {"const": "terms.acceptance"}, **_ACCEPTANCE["properties"],
        "recorded": {"type": "boolean", "description": "false: this version was already accepted; nothing recorded"}},
        closed=True, description="A customer's acceptance of one version of a licence's terms"),
    "ModelSuspension": _SUSPENSION,
    "ModelSuspensions": _object(["data", "next_after_seq"], {"data": {"type": "array", "items": _SUSPENSION},
                                                             "next_after_seq": _INT}, closed=True),
    "TermsAcceptances": _object(["data", "next_after_seq"], {"data": {"type": "array", "items": _ACCEPTANCE},
                                                             "next_after_seq": _INT}, closed=True),
    "MyTerms": _object(["object", "data"], {"object": {"const": "list"}, "data": {"type": "array", "items": _object(
        [*_TERMS["required"], "notice", "effective_from", "grace_days", "grace_until", "status", "models", "accept_url",
         "acceptances"],
        {**_TERMS["properties"], "notice": _OPT_STR,
         "effective_from": {"type": ["string", "null"], "format": "date-time"},
         "grace_days": _INT, "grace_until": {"type": ["string", "null"], "format": "date-time",
                                             "description": "while `grace`: until when an earlier version counts"},
         "status": _STANDING, "models": {"type": "array", "items": _STR}, "accept_url": _STR,
         "acceptances": {"type": "array", "items": _ACCEPTANCE}}, closed=True)}}, closed=True),
    "TermsUsers": _object(["object", "month", "start", "end", "counted", "models", "terms", "flagged"], {
        "object": {"const": "terms.users"}, "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        "start": _INSTANT, "end": _INSTANT,
        "counted": {"const": "end_users", "description": "what thresholds compare: distinct end users (`user`, "
                    "else the key)"},
        "models": {"type": "array", "items": _object(
            ["model", "terms", "end_users", "customers", "keys", "records", "thresholds"],
            {"model": _STR, "terms": {"type": "array", "items": _STR}, "end_users": _INT, "customers": _INT,
             "keys": _INT, "records": _INT, "thresholds": {"type": "array", "items": _THRESHOLD}}, closed=True)},
        "terms": {"type": "array", "items": _object(
            ["terms_id", "name", "models", "end_users", "customers", "keys", "thresholds"],
            {"terms_id": _STR, "name": _STR, "models": {"type": "array", "items": _STR}, "end_users": _INT,
             "customers": _INT, "keys": _INT, "thresholds": {"type": "array", "items": _THRESHOLD}}, closed=True)},
        "flagged": {"type": "array", "items": _THRESHOLD}}, closed=True),
    "LiveTermsUsers": _object(
        ["object", "month", "counted", "estimate", "relative_standard_error", "models", "terms", "thresholds",
         "flagged"], {
            "object": {"const": "terms.users.live"}, "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
            "counted": {"const": "end_users"}, "estimate": {"const": "hyperloglog"},
            "relative_standard_error": {"type": "number"},
            "models": {"type": "array", "items": _object(["model", "end_users"], {"model": _STR, "end_users": _INT},
                                                         closed=True)},
            "terms": {"type": "array", "items": _object(["terms_id", "end_users"],
                                                        {"terms_id": _STR, "end_users": _INT}, closed=True)},
            "thresholds": {"type": "array", "items": _THRESHOLD}, "flagged": {"type": "array", "items": _THRESHOLD}},
        closed=True, description="This gateway's estimate of the month's end users since it started"),
}
