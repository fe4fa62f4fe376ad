"""Reading a bundle's files by the names and formats its writer uses (revshare.settlement.bundle_layout)."""

from __future__ import annotations

from pathlib import Path

import pytest
import rfc8785

from revshare.settlement import bundle_layout as layout
from revshare.settlement.bundle_terms import HostTerms, StatementTerms
from revshare.verify.bundle import SharedFiles, statement_names
from revshare.verify.errors import BundleFormatError, ConsistencyError


def test_statement_names_leave_out_previous_statements_and_other_files(tmp_path: Path) -> None:
    for name in ["statement-a-c-2026-02.json", "statement-a-c-2026-02.previous.json", "statement-a-c-2026-02.sig",
                 "statement-b-d-2026-02.json", *layout.BUNDLE_FILES]:
        (tmp_path / name).write_text("{}")
    assert statement_names(tmp_path) == ["statement-a-c-2026-02", "statement-b-d-2026-02"]
    assert layout.statement_file("statement-x") == "statement-x.json"
    assert layout.signature_file("statement-x") == "statement-x.sig"
    assert layout.previous_statement_file("statement-x") == "statement-x.previous.json"


def test_a_missing_directory_has_no_statements(tmp_path: Path) -> None:
    assert statement_names(tmp_path / "nowhere") == []


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BundleFormatError, match=f"^{layout.BORDER} cannot be read: No such file or directory$"):
        SharedFiles(tmp_path)


H = bytes(range(32))


def _bundle(directory: Path, border: bytes = layout.BorderFile(1, (H,)).to_bytes(), carried: bytes = b"",
            consistency: bytes = layout.ConsistencyFile(1, 2, (H,)).to_bytes()) -> Path:
    """The shared files of a bundle, as the writer writes them (terms with nothing in them)."""
    (directory / layout.BORDER).write_bytes(border)
    (directory / layout.LEAVES).write_bytes(b"")
    (directory / layout.CARRIED).write_bytes(carried)
    (directory / layout.CONSISTENCY).write_bytes(consistency)
    (directory / layout.TERMS).write_bytes(rfc8785.dumps(StatementTerms(HostTerms("h"), (), (), (), ()).to_json()))
    return directory


def test_the_reader_reads_the_proof_files_as_the_writer_writes_them(tmp_path: Path) -> None:
    carried = layout.CarriedLeaf(0, 3, '{"seq":3}', (H, H))
    shared = SharedFiles(_bundle(tmp_path, carried=carried.to_line() * 2))
    assert (shared.border_size, shared.border) == (1, (H,))
    assert shared.carried(2) == [carried, carried]
    assert shared.consistency(1, 2) == (H,)


@pytest.mark.parametrize(("files", "message"), [
    ({"border": b'{"hashes":[],"size":true}\n'}, 'border.json: "size" must be a non-negative integer, got true'),
    ({"border": b"[]\n"}, 'border.json: want {"size": m, "hashes": [base64, ...]}, got a list'),
    ({"carried": layout.CarriedLeaf(0, 3, "{}", ()).to_line() + b'["not", "an", "object"]\n'},
     'carried.jsonl line 2: want {"index": i, "seq": s, "data": leaf, "proof": [base64, ...]}, got a list'),
    ({"carried": b'{"data":"{}","index":0,"proof":["AAAA"],"seq":3}\n'},
     'carried.jsonl line 1: "proof"[0] is 3 bytes, a hash is 32'),
    ({"carried": b'{"data":"{}","index":0,"proof":[],"seq":3}'}, "carried.jsonl: the last line has no newline (truncated?)"),
])
def test_a_malformed_proof_file_is_a_bundle_format_error_naming_file_line_and_field(
        tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    with pytest.raises(BundleFormatError) as raised:
        SharedFiles(_bundle(tmp_path, **files)).carried(2)  # carried.jsonl is read when a statement says how many
    assert str(raised.value) == message


def test_carried_leaves_are_bounded_by_the_count_the_statement_signs(tmp_path: Path) -> None:
    line = layout.CarriedLeaf(0, 3, '{"seq":3}', (H,)).to_line()
    big = line * (layout.MAX_CARRIED_LINE // len(line) + 1)
    with pytest.raises(BundleFormatError, match=rf"^carried.jsonl is {len(big)} bytes, over the "
                                                rf"{layout.MAX_CARRIED_LINE} bytes 1 carried leaf may take$"):
        SharedFiles(_bundle(tmp_path, carried=big)).carried(1)
    assert len(SharedFiles(_bundle(tmp_path, carried=big)).carried(2)) == len(big) // len(line)
    with pytest.raises(BundleFormatError, match=rf"^carried.jsonl is {len(line)} bytes, over the 0 bytes"):
        SharedFiles(_bundle(tmp_path, carried=line)).carried(0)


def test_json_files_are_read_strictly(tmp_path: Path) -> None:
    """Integers and strings only, no key twice, not too deep, UTF-8: what RFC 8785 writes, no more."""
    from revshare.verify.bundle import MAX_DEPTH, loads

    for data, message in [
        (b'{"a": 1.5}', "the number 1.5 is not an integer (amounts are strings)"),
        (b'{"a": 1e999}', "the number 1e999 is not an integer"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b'{"a": 9007199254740992}', "the integer 9007199254740992 is beyond 2^53 - 1"),
        (b'{"a": 1, "a": 2}', 'the field "a" appears twice'),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
        (b"[" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
        (b'"\\ud800"', "a string holds a lone surrogate"),
        (b'{"\\udfff": 1}', "a string holds a lone surrogate"),
        (b'"\xff"', "codec can't decode byte 0xff"),
    ]:
        with pytest.raises(BundleFormatError) as raised:
            loads(data, "x.json")
        assert str(raised.value).startswith("x.json is not JSON: ") and message in str(raised.value), data
    assert loads(b'{"a": [9007199254740991, -9007199254740991, "\\u00e9"]}', "x.json") == {
        "a": [2**53 - 1, -(2**53 - 1), "\u00e9"]}
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, "x.json") is not None


def test_a_consistency_proof_of_other_sizes_is_a_consistency_error(tmp_path: Path) -> None:
    shared = SharedFiles(_bundle(tmp_path))
    with pytest.raises(ConsistencyError, match=r"^consistency.json is not the proof from size 6 to 9$"):
        shared.consistency(6, 9)


def test_a_malformed_consistency_proof_is_a_bundle_format_error(tmp_path: Path) -> None:
    shared = SharedFiles(_bundle(tmp_path, consistency=b'{"new":2,"old":1,"proof":"AAAA"}\n'))
    with pytest.raises(BundleFormatError, match=r'^consistency.json: "proof" must be a list of base64 hashes, '
                                                r"got a string$"):
        shared.consistency(1, 2)
