"""The bundle's proof files, defined once in revshare.settlement.bundle_layout: written, read back, and refused.

Each hostile case is named after its mutation of a file the writer could have written, and pins
the whole message: a licensor handed a broken bundle reads which file, line and field is wrong.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revshare.settlement.bundle_layout import (
    HASH_SIZE,
    BorderFile,
    BundleFileError,
    CarriedLeaf,
    ConsistencyFile,
)

H0, H1, H2 = bytes(32), bytes(range(32)), b"\xff" * 32
B0, B1, B2 = (base64.b64encode(h).decode() for h in (H0, H1, H2))
LEAF = '{"amount":"0.10","seq":7}'


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


# --- what the writer writes: RFC 8785 JSON, base64 hashes, a newline ---------------------------

def test_border_file_bytes_are_pinned_and_read_back() -> None:
    border = BorderFile(6, (H1, H2))
    assert border.to_bytes() == f'{{"hashes":["{B1}","{B2}"],"size":6}}\n'.encode()
    assert BorderFile.parse(border.to_bytes()) == border


def test_consistency_file_bytes_are_pinned_and_read_back() -> None:
    proof = ConsistencyFile(6, 9, (H0, H1))
    assert proof.to_bytes() == f'{{"new":9,"old":6,"proof":["{B0}","{B1}"]}}\n'.encode()
    assert ConsistencyFile.parse(proof.to_bytes()) == proof
    empty = ConsistencyFile(0, 6, ())  # a range that starts the log: written, never read
    assert empty.to_bytes() == b'{"new":6,"old":0,"proof":[]}\n'
    assert ConsistencyFile.parse(empty.to_bytes()) == empty


def test_carried_leaf_line_is_pinned_and_read_back_with_or_without_its_newline() -> None:
    leaf = CarriedLeaf(5, 7, LEAF, (H2,))
    line = leaf.to_line()
    assert line == b'{"data":"{\\"amount\\":\\"0.10\\",\\"seq\\":7}","index":5,"proof":["' + B2.encode() + \
        b'"],"seq":7}\n'
    assert CarriedLeaf.parse(line, 1) == leaf
    assert CarriedLeaf.parse(line.rstrip(b"\n"), 1) == leaf


def test_non_ascii_leaf_data_round_trips_as_utf8() -> None:
    leaf = CarriedLeaf(0, 1, '{"customer":"Zoë ✓"}', ())
    assert "Zoë ✓".encode() in leaf.to_line()
    assert CarriedLeaf.parse(leaf.to_line(), 1) == leaf


hashes = st.lists(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE), max_size=5).map(tuple)
counts = st.integers(min_value=0, max_value=2**53 - 1)  # all that RFC 8785 writes
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=100, deadline=None)
@given(counts, counts, texts, hashes, hashes)
def test_every_file_the_writer_can_write_reads_back_equal(a: int, b: int, data: str, h: tuple[bytes, ...],
                                                          p: tuple[bytes, ...]) -> None:
    assert BorderFile.parse(BorderFile(a, h).to_bytes()) == BorderFile(a, h)
    assert ConsistencyFile.parse(ConsistencyFile(a, b, p).to_bytes()) == ConsistencyFile(a, b, p)
    assert CarriedLeaf.parse(CarriedLeaf(a, b, data, p).to_line(), 3) == CarriedLeaf(a, b, data, p)


# --- hostile files: each mutation of a written file, and its message ---------------------------

GOOD_BORDER = {"size": 3, "hashes": [B0, B1]}
GOOD_PROOF = {"old": 6, "new": 9, "proof": [B0, B1]}
GOOD_LINE = {"index": 5, "seq": 7, "data": LEAF, "proof": [B2]}


def _border(**edit: object) -> bytes:
    return _dumps({**GOOD_BORDER, **edit})


def _proof(**edit: object) -> bytes:
    return _dumps({**GOOD_PROOF, **edit})


def _line(**edit: object) -> bytes:
    return _dumps({**GOOD_LINE, **edit})


def _without(good: dict[str, object], name: str) -> bytes:
    return _dumps({k: v for k, v in good.items() if k != name})


Parse = Callable[[bytes], object]
BORDER: Parse = BorderFile.parse
PROOF: Parse = ConsistencyFile.parse


def at_line(n: int) -> Parse:
    """The parser of line `n` of carried.jsonl."""
    return lambda data: CarriedLeaf.parse(data, n)


HOSTILE: dict[str, tuple[Parse, bytes, str]] = {
    "border-empty-file": (BORDER, b"", "border.json is not JSON: Expecting value: line 1 column 1 (char 0)"),
    "border-truncated": (BORDER, _border()[:-5],
                         "border.json is not JSON: Unterminated string starting at: line 1 column 72 (char 71)"),
    "border-not-utf8": (BORDER, b'{"size": 1, "hashes": ["\xff"]}',
                        "border.json is not JSON: 'utf-8' codec can't decode byte 0xff in position 24: "
                        "invalid start byte"),
    "border-non-object": (BORDER, _dumps([3, [B0, B1]]),
                          'border.json: want {"size": m, "hashes": [base64, ...]}, got a list'),
    "border-null": (BORDER, b"null", 'border.json: want {"size": m, "hashes": [base64, ...]}, got null'),
    "border-missing-size": (BORDER, _without(GOOD_BORDER, "size"), 'border.json: "size" is missing'),
    "border-missing-hashes": (BORDER, _without(GOOD_BORDER, "hashes"), 'border.json: "hashes" is missing'),
    "border-size-twice": (BORDER, b'{"size": 3, "hashes": [], "size": 0}', 'border.json: the field "size" appears twice'),
    "carried-nested-field-twice": (at_line(2), b'{"index": 0, "seq": 1, "data": "", "proof": [], "x": {"a": 1, "a": 2}}',
                                   'carried.jsonl line 2: the field "a" appears twice'),
    "border-extra-field": (BORDER, _border(root=B0), 'border.json: unknown field "root"'),
    "border-long-extra-field": (BORDER, _border(**{"x" * 100: 1}), f'border.json: unknown field "{"x" * 40}..."'),
    "border-bool-for-int": (BORDER, _border(size=True), 'border.json: "size" must be a non-negative integer, got true'),
    "border-negative-size": (BORDER, _border(size=-1), 'border.json: "size" must be a non-negative integer, got -1'),
    "border-float-size": (BORDER, _border(size=3.0),
                          'border.json: "size" must be a non-negative integer, got the number 3.0'),
    "border-string-size": (BORDER, _border(size="3"), 'border.json: "size" must be a non-negative integer, got a string'),
    "border-huge-negative-size": (BORDER, _border(size=-10**30),
                                  'border.json: "size" must be a non-negative integer, got a large integer'),
    "border-size-over-2^53": (BORDER, _border(size=2**53),
                              'border.json: "size" is over 2^53 - 1, the largest integer of RFC 8785 JSON'),
    "border-hashes-not-a-list": (BORDER, _border(hashes=B0),
                                 'border.json: "hashes" must be a list of base64 hashes, got a string'),
    "border-hash-of-31-bytes": (BORDER, _border(hashes=[B0, base64.b64encode(bytes(31)).decode()]),
                                'border.json: "hashes"[1] is 31 bytes, a hash is 32'),
    "border-hash-of-33-bytes": (BORDER, _border(hashes=[base64.b64encode(bytes(33)).decode()]),
                                'border.json: "hashes"[0] is 33 bytes, a hash is 32'),
    "border-hash-non-base64": (BORDER, _border(hashes=[B0, "not base64!"]), 'border.json: "hashes"[1] is not base64'),
    "border-hash-unpadded": (BORDER, _border(hashes=[B0.rstrip("=")]), 'border.json: "hashes"[0] is not base64'),
    "border-hash-non-ascii": (BORDER, _border(hashes=["é" * 44]), 'border.json: "hashes"[0] is not base64'),
    "border-hash-stray-bits": (BORDER, _border(hashes=["A" * 42 + "B="]),
                               'border.json: "hashes"[0] is not canonical base64 (stray bits after the hash)'),
    "border-hash-a-number": (BORDER, _border(hashes=[5]), 'border.json: "hashes"[0] must be a base64 string, got 5'),
    "border-extra-nesting-of-file": (BORDER, _dumps({"border": GOOD_BORDER}), 'border.json: "size" is missing'),
    "border-extra-nesting-of-size": (BORDER, _border(size={"value": 3}),
                                     'border.json: "size" must be a non-negative integer, got an object'),
    "border-extra-nesting-of-hashes": (BORDER, _border(hashes=[[B0, B1]]),
                                       'border.json: "hashes"[0] must be a base64 string, got a list'),
    "consistency-non-object": (PROOF, b'"proof"',
                               'consistency.json: want {"old": m, "new": n, "proof": [base64, ...]}, got a string'),
    "consistency-missing-old": (PROOF, _without(GOOD_PROOF, "old"), 'consistency.json: "old" is missing'),
    "consistency-bool-for-int": (PROOF, _proof(new=False),
                                 'consistency.json: "new" must be a non-negative integer, got false'),
    "consistency-negative-old": (PROOF, _proof(old=-6), 'consistency.json: "old" must be a non-negative integer, got -6'),
    "consistency-proof-null": (PROOF, _proof(proof=None),
                               'consistency.json: "proof" must be a list of base64 hashes, got null'),
    "consistency-hash-of-31-bytes": (PROOF, _proof(proof=[base64.b64encode(bytes(31)).decode()]),
                                     'consistency.json: "proof"[0] is 31 bytes, a hash is 32'),
    "consistency-extra-field": (PROOF, _proof(size=9), 'consistency.json: unknown field "size"'),
    "carried-blank-line": (at_line(2), b"", "carried.jsonl line 2 is not JSON: Expecting value: line 1 column 1 (char 0)"),
    "carried-non-object-json-line": (
        at_line(3), _dumps([5, 7, LEAF, [B2]]),
        'carried.jsonl line 3: want {"index": i, "seq": s, "data": leaf, "proof": [base64, ...]}, got a list'),
    "carried-number-line": (
        at_line(1), b"5",
        'carried.jsonl line 1: want {"index": i, "seq": s, "data": leaf, "proof": [base64, ...]}, got 5'),
    "carried-missing-index": (at_line(1), _without(GOOD_LINE, "index"), 'carried.jsonl line 1: "index" is missing'),
    "carried-missing-data": (at_line(4), _without(GOOD_LINE, "data"), 'carried.jsonl line 4: "data" is missing'),
    "carried-bool-for-int": (at_line(2), _line(index=True),
                             'carried.jsonl line 2: "index" must be a non-negative integer, got true'),
    "carried-negative-seq": (at_line(1), _line(seq=-7), 'carried.jsonl line 1: "seq" must be a non-negative integer, got -7'),
    "carried-data-as-object": (at_line(1), _line(data=json.loads(LEAF)),
                               'carried.jsonl line 1: "data" must be a string, got an object'),
    "carried-data-lone-surrogate": (at_line(1), _line(data="\ud800"),
                                    'carried.jsonl line 1: "data" is not UTF-8 text (a lone surrogate)'),
    "carried-hash-of-31-bytes": (at_line(1), _line(proof=[B2, base64.b64encode(bytes(31)).decode()]),
                                 'carried.jsonl line 1: "proof"[1] is 31 bytes, a hash is 32'),
    "carried-non-base64": (at_line(1), _line(proof=["%%%%"]), 'carried.jsonl line 1: "proof"[0] is not base64'),
    "carried-extra-nesting": (at_line(1), _dumps({"leaf": GOOD_LINE}), 'carried.jsonl line 1: "index" is missing'),
    "carried-extra-field": (at_line(1), _line(hash=B2), 'carried.jsonl line 1: unknown field "hash"'),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_refused_with_a_precise_message(case: str) -> None:
    parse, data, message = HOSTILE[case]
    with pytest.raises(BundleFileError) as raised:
        parse(data)
    assert str(raised.value) == message


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    for parse in (BORDER, PROOF, at_line(1)):
        with pytest.raises(BundleFileError, match=r"is not JSON: maximum recursion depth"):
            parse(b"[" * 100_000 + b"]" * 100_000)


def test_bundle_file_error_is_a_value_error() -> None:
    assert issubclass(BundleFileError, ValueError)


# --- fuzz: whatever JSON (or bytes) a bundle holds, the parsers raise only BundleFileError ------

FIELDS = ("size", "hashes", "old", "new", "proof", "index", "seq", "data")


def _containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    keys = st.sampled_from(FIELDS) | st.text(max_size=3)
    return st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5)


json_values: st.SearchStrategy[object] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50)
    | st.sampled_from([B0, B1, "A" * 42 + "B=", B0[:-4]]),
    _containers, max_leaves=20)
b64_lists = hashes.map(lambda hs: [base64.b64encode(h).decode() for h in hs])
near_valid = st.dictionaries(st.sampled_from(FIELDS), json_values | counts | b64_lists, min_size=2,
                             max_size=len(FIELDS))
shaped = st.one_of(  # each field right or anything: many parse, the rest fail on one field
    st.fixed_dictionaries({"size": counts | json_values, "hashes": b64_lists | json_values}),
    st.fixed_dictionaries({"old": counts | json_values, "new": counts | json_values, "proof": b64_lists | json_values}),
    st.fixed_dictionaries({"index": counts | json_values, "seq": counts | json_values, "data": texts | json_values,
                           "proof": b64_lists | json_values}))


def _only_bundle_file_error(call: Callable[[], BorderFile | ConsistencyFile | CarriedLeaf], value: object) -> None:
    """`call` raises BundleFileError, or what it parsed is what the writer writes for it."""
    try:
        parsed = call()
    except BundleFileError:
        return
    written = parsed.to_line() if isinstance(parsed, CarriedLeaf) else parsed.to_bytes()
    assert json.loads(written) == value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | near_valid | shaped)
def test_parse_of_any_json_value_raises_only_bundle_file_error(value: object) -> None:
    data = json.dumps(value).encode()
    _only_bundle_file_error(lambda: BorderFile.from_json(value), value)
    _only_bundle_file_error(lambda: ConsistencyFile.from_json(value), value)
    _only_bundle_file_error(lambda: CarriedLeaf.from_json(value, 1), value)
    _only_bundle_file_error(lambda: BorderFile.parse(data), value)
    _only_bundle_file_error(lambda: ConsistencyFile.parse(data), value)
    _only_bundle_file_error(lambda: CarriedLeaf.parse(data, 1), value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_of_any_bytes_raises_only_bundle_file_error(data: bytes) -> None:
    for parse in (BorderFile.parse, ConsistencyFile.parse, lambda d: CarriedLeaf.parse(d, 1)):
        with contextlib.suppress(BundleFileError):
            parse(data)
