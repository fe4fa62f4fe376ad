"""Reading a bundle's files by the names its writer uses (revshare.settlement.bundle_layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from revshare.settlement import bundle_layout as layout
from revshare.verify.bundle import SharedFiles, statement_names
from revshare.verify.errors import BundleFormatError


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
    with pytest.raises(BundleFormatError, match=f"cannot read {layout.BORDER}"):
        SharedFiles(tmp_path)
