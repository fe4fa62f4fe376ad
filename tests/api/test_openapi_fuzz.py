"""Schemathesis against /openapi.json, with every credential the document declares (issue 17).

Against a gateway on the stub upstream (no model), with the customer key, the admin token and a
licensor token configured for the document's security schemes. It must find no 5xx and no
response outside the document: status, media type (JSON, event stream, text), body schema,
headers; no operation that answers without its credentials or with wrong ones (`ignored_auth`);
no invalid request accepted (`negative_data_rejection`); no record a link leads to that is missing.

1. Every operation: `EXAMPLES` schema-valid and `EXAMPLES` schema-invalid cases. Most valid ones
   are steered to what exists (the catalog's model, a small `max_tokens`, the licensor's log, the
   records made so far, seqs and sizes in range) so they reach the code behind the 404s, and some
   carry a lone surrogate in a body string (schemathesis never makes one: JSON can spell it, UTF-8
   cannot carry it). Invalid ones go as generated: out-of-range and 2^63 integers, wrong types.
2. Stateful: `SCENARIOS` chains along the document's links (a completion's record to its receipt,
   a receipt to its inclusion proof, a proof to the consistency proof and leaves, the admin
   records to their receipts and proofs, and paging).

Not checked: `positive_data_acceptance` (a schema-valid body can still be refused by rules the
schema cannot hold: `max_tokens` over the model's context, an unknown model, `4.0` where JSON
Schema's integer accepts it and the API does not), and `object_level_authorization` (one identity
per scheme here; tests/api/test_tenancy.py holds tenancy). About 3 minutes on a 2-core machine;
REVSHARE_FUZZ_EXAMPLES scales it (for a longer run by hand).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.stateful import run_state_machine_as_test

from revshare.logstore.licensor_tokens import create_token
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import MODEL, stub_catalog, stub_upstream

EXAMPLES = int(os.environ.get("REVSHARE_FUZZ_EXAMPLES", "250"))
SCENARIOS = max(EXAMPLES // 2, 10)
LOGS = ("google", "_host")
SURROGATE = "\ud800"
# Integers a fuzzer's dictionary holds: the edges of 32, 53 and 64 bits (SQLite's and JSON's limits).
EDGES = (2**63, 2**64, 2**63 - 1, -(2**63) - 1, -(2**63), -1, 2**31 - 1, 2**31, 2**53 + 1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'ledger.db'}"
    with stub_upstream() as base, running_gateway(stub_catalog(base), url) as running:
        yield running


def _schema(gw: Running) -> Any:
    _, licensor = create_token(gw.ledger, "google")
    config = schemathesis.Config.from_dict({
        "auth": {"openapi": {"apiKey": {"bearer": gw.keys["demo"]}, "adminToken": {"bearer": gw.admin_token},
                             "licensorToken": {"bearer": licensor}}},
        # Credentials are not generated (nor mangled by the invalid cases): `ignored_auth` probes each
        # operation without them and with wrong ones instead.
        "generation": {"with-security-parameters": False},
        "checks": {"positive_data_acceptance": {"enabled": False},
                   "object_level_authorization": {"enabled": False},
                   # An invalid body can also be too large (thousands of repeated items): refused
                   # with 413 before it is parsed, which is a rejection as good as a 400.
                   "negative_data_rejection": {"expected-statuses": [
                       "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]}},
    })
    return schemathesis.openapi.from_url(gw.url + "/openapi.json", config=config)


def _seed_records(gw: Running, n: int = 3) -> list[str]:
    """A few records (streamed and not) and a signed log, for the steered cases to find."""
    headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
    ids = []
    for i in range(n):
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": i == 1}
        r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        ids.append(r.headers["x-revshare-record-id"])
    deadline = time.monotonic() + 15
    while httpx.get(f"{gw.url}/v1/receipts/{ids[-1]}", headers=headers, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the seeded records were never integrated into the logs"
        time.sleep(0.2)
    return ids


NEEDS_A_SETTLED_PERIOD = {f"GET {path} positive" for path in (
    "/admin/documents/{period}/{name}", "/v1/me/invoices/{period}/{name}", "/v1/licensor/statements/{period}/{name}")}
# The stub catalog has chat models only: /v1/embeddings answers them 400 (`model`); its success path
# runs against a real embedding model in tests/api/test_openai_new_endpoints_fuzz.py.
NEEDS_A_SETTLED_PERIOD |= {"POST /v1/embeddings positive"}

# Keys of the customer demo for the admin key routes to find (PATCH, revoke): set by the test.
KEY_IDS: list[str] = []


def _seed_keys(gw: Running, n: int = 40) -> None:
    KEY_IDS[:] = [gw.ledger.create_key("demo", f"fuzz {i}")[0].key_id for i in range(n)]


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, str):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))


def _put(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _steer(case: Any, data: st.DataObject, records: list[str]) -> None:
    """Most schema-valid cases to what exists, some with a lone surrogate in a body string."""
    # Hypothesis prefers small draws: 0 (steered) is the simplest, so shrinking keeps a case steered.
    if data.draw(st.integers(0, 3), label="steer") == 3:  # some go as generated
        return
    body = case.body
    if isinstance(body, dict):
        if "model" in body or "messages" in body or "prompt" in body:
            body["model"] = MODEL
        for field in ("max_tokens", "max_completion_tokens"):
            if isinstance(body.get(field), int) and not isinstance(body[field], bool):
                body[field] = min(body[field], 8)
        for field, value in body.items():
            if isinstance(value, int) and not isinstance(value, bool):
                body[field] = _edge_or(value, data, field, 10)
        strings = list(_strings(body))
        if strings and data.draw(st.integers(0, 9), label="surrogate") == 9:
            path = data.draw(st.sampled_from(strings), label="where")
            _put(body, path, data.draw(st.sampled_from(["", "a"]), label="before") + SURROGATE)
    headers = case.headers or {}
    if "Idempotency-Key" in headers and data.draw(st.integers(0, 3), label="idempotency") != 3:
        del headers["Idempotency-Key"]  # a few keep it: replays, 409s and 422s (the same key, another body)
    path_parameters = case.path_parameters or {}
    if "log_id" in path_parameters:
        path_parameters["log_id"] = data.draw(st.sampled_from(LOGS), label="log")  # _host: 403 for the licensor
    if "record_id" in path_parameters:
        path_parameters["record_id"] = data.draw(st.sampled_from(records), label="record")
    if "tile" in path_parameters:  # tiles up to width 2 exist in every signed log the seeding left
        path_parameters["tile"] = data.draw(st.sampled_from(["0/000.p/1", "0/000.p/2", "entries/000.p/1"]),
                                            label="tile")
    if case.operation.path.startswith("/admin/customers/{name}/models/{model}/"):
        # Suspend, then (the next operation in the document) lift: the customer is whole again after.
        path_parameters["name"], path_parameters["model"] = "demo", MODEL
    if "key_id" in path_parameters and KEY_IDS:
        path_parameters["key_id"] = data.draw(st.sampled_from(KEY_IDS), label="key")
    if "terms_id" in path_parameters:
        path_parameters["terms_id"] = "gemma"
        if isinstance(body, dict) and "version" in body and data.draw(st.integers(0, 3), label="version") != 3:
            body["version"] = "2025-03-24"
        if "name" in path_parameters:
            path_parameters["name"] = "demo"
    if isinstance(body, dict) and case.operation.path == "/admin/keys" and "customer" in body:
        body["customer"] = "demo"
    if case.query is None:
        case.query = {}
    query = case.query
    top = len(records) + 2
    for name in ("seq", "size", "old", "new", "start", "end", "after_seq"):
        if isinstance(query.get(name), int) and not isinstance(query[name], bool):
            in_range = data.draw(st.integers(0 if name in ("start", "end", "after_seq") else 1, top), label=name)
            query[name] = _edge_or(in_range, data, name, 4)
    if isinstance(query.get("record_id"), str):
        query["record_id"] = data.draw(st.sampled_from(records), label="record_id")
        if "seq" in query and data.draw(st.integers(0, 3), label="both") != 3:
            del query[data.draw(st.sampled_from(["seq", "record_id"]), label="which")]  # the proof takes one
    if case.operation.path.endswith("/inclusion") and "seq" not in query and "record_id" not in query:
        query["seq"] = data.draw(st.integers(1, top), label="seq")  # the proof takes one of them
    if "log" in query:
        query["log"] = data.draw(st.sampled_from([*LOGS, None]), label="log")


def _edge_or(value: int, data: st.DataObject, name: str, one_in: int) -> int:
    """`value`, or one time in `one_in` an integer from the edges."""
    if data.draw(st.integers(1, one_in), label=f"edge {name}") != 1:
        return value
    return data.draw(st.sampled_from(EDGES), label=name)


def _steer_invalid(case: Any, data: st.DataObject, records: list[str]) -> None:
    """An invalid case's path to what exists, unless the path is what was made invalid: a log route
    checks its credentials against the log before it reads the query."""
    if case.meta is None or case.meta.is_negative_at(ParameterLocation.PATH):
        return
    path_parameters = case.path_parameters or {}
    if "log_id" in path_parameters:
        path_parameters["log_id"] = "google"
    if "record_id" in path_parameters and data.draw(st.booleans(), label="record"):
        path_parameters["record_id"] = data.draw(st.sampled_from(records), label="which")


def _run_operation(operation: Any, mode: GenerationMode, records: list[str], statuses: dict[int, int]) -> str | None:
    """One operation in one mode, counting the statuses it got; the failure's text, or None."""
    positive = mode is GenerationMode.POSITIVE

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate, Phase.shrink])
    def run(case: Any, data: st.DataObject) -> None:
        (_steer if positive else _steer_invalid)(case, data, records)
        response = case.call(timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response)

    try:
        run()
    except Unsatisfiable:  # an operation without parameters has no invalid form
        return None
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
        return f"{operation.label} ({mode.value}): {exc}"
    return None


def test_every_operation_answers_inside_the_document(gw: Running) -> None:
    schema = _schema(gw)
    records = _seed_records(gw)
    _seed_keys(gw)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models", "/admin/records", "/v1/receipts/{record_id}",
            "/v1/log/{log_id}/proof/inclusion", "/healthz"} <= paths
    failures: list[str] = []
    answered: dict[str, dict[int, int]] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            statuses = answered.setdefault(f"{operation.label} {mode.value}", {})
            failure = _run_operation(operation, mode, records, statuses)
            if failure is not None:
                failures.append(failure)
    # Whatever order the fuzzed suspensions ended in, the customer may call the model again after.
    httpx.post(f"{gw.url}/admin/customers/demo/models/{MODEL}/lift", json={"reason": "the fuzzing is over"},
               headers={"Authorization": f"Bearer {gw.admin_token}"}, timeout=30)
    print("\n".join(f"{label}: {sorted(statuses.items())}" for label, statuses in answered.items() if statuses))
    assert not failures, "\n\n".join(failures)
    # The steered cases reached every operation's success path, not only its refusals, save the
    # downloads of settled documents: nothing is settled here (tests/api/test_documents_routes.py).
    assert not [label for label, statuses in answered.items()
                if "positive" in label and label not in NEEDS_A_SETTLED_PERIOD
                and not any(200 <= status < 300 for status in statuses)], answered


# The operations the links join: the state machine draws its steps from these only, so that the
# chains (a record, its receipt, its proof) stay likely however many other routes the API grows.
LINKED = r"^/(v1/completions|v1/chat/completions|admin/records|v1/receipts/|v1/log/\{log_id\}/(proof/|leaves))"


def test_stateful_links_between_records_and_receipts(gw: Running) -> None:
    schema = _schema(gw).include(path_regex=LINKED)
    _seed_records(gw)
    followed: dict[str, int] = {}

    class Links(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # Completions that reach the engine make records (and receipts) to follow.
            if isinstance(case.body, dict) and case.meta is not None and not case.meta.generation.mode.is_negative:
                case.body["model"] = MODEL
                case.body.pop("max_tokens", None)
                case.body.pop("max_completion_tokens", None)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            if response.status_code == 200:
                followed[case.operation.label] = followed.get(case.operation.label, 0) + 1

    run_state_machine_as_test(Links, settings=settings(
        max_examples=SCENARIOS, stateful_step_count=6, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink]))
    print(followed)
    # The chains ran: records were made, and their receipts and proofs read through the links.
    assert followed.get("POST /v1/chat/completions", 0) > 0, followed
    assert followed.get("GET /v1/receipts/{record_id}", 0) > 0, followed
    assert followed.get("GET /v1/log/{log_id}/proof/inclusion", 0) > 0, followed
