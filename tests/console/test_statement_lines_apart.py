"""The licensor's statement page in the console shows embedding lines apart: a group per model kind,
each with its subtotal row, the subtotals adding up to the statement's totals; a statement with
chat lines only (or issued before lines said what they bill) is one plain table, as before."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from revshare.api.console.pages_licensor import LINE_COLUMNS
from revshare.api.console.web import templates
from revshare.monthend.statement_lines import line_groups
from tests.support.embedding_settlement import close, embedding_catalog


def page(doc: dict[str, Any]) -> str:
    return templates.get_template("statement.html").render(
        request_path="/console/licensor", current_nav="", session=None, csrf="", nav=[], title="Statement",
        doc=doc, sha256="ab" * 32, period=doc["period"], name="s", columns=LINE_COLUMNS,
        groups=line_groups(doc["lines"]))


def rows(html: str) -> list[str]:
    body = html[html.index('<table class="rows lines">'):]
    body = body[:body.index("</table>")]
    return [re.sub(r"<[^>]+>", "|", r) for r in re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)]


def test_embedding_lines_are_a_group_with_a_subtotal_that_adds_up() -> None:
    (st,) = close(embedding_catalog()).statements
    doc = json.loads(json.dumps(st.to_json()))  # as the console reads it from the ledger
    html = page(doc)
    shown = rows(html)
    assert re.findall(r'<th scope="rowgroup"[^>]*>([^<]*)</th>', html) == ["Chat, completions and responses",
                                                                          "Embeddings"]
    groups = line_groups(doc["lines"])
    assert [g["subtotal"]["model_kind"] for g in groups] == ["chat", "embedding"]
    assert sum(Decimal(g["subtotal"]["gross"]) for g in groups) == Decimal(doc["totals"]["gross"])
    assert sum(Decimal(g["subtotal"]["share"]) for g in groups) == Decimal(doc["totals"]["usage_share"])
    subtotal = next(r for r in shown if "Subtotal: embeddings" in r)
    assert "|1.85|" in subtotal and "|0.18|" in subtotal and "embedding" in subtotal
    assert html.count('<tr class="subtotal">') == 2
    embeddings = next(i for i, r in enumerate(shown) if "Embeddings" in r)
    assert all("minilm" not in r for r in shown[:embeddings]) and any("minilm" in r for r in shown[embeddings:])


def test_chat_only_and_unlabelled_statements_are_one_plain_table() -> None:
    (st,) = close(embedding_catalog(kind="chat")).statements
    doc = st.to_json()
    assert line_groups(doc["lines"]) == []
    html = page(doc)
    assert "Embeddings" not in html and "Subtotal" not in html
    older = {**doc, "lines": [{k: v for k, v in x.items() if k != "model_kind"} for x in doc["lines"]]}
    assert line_groups(older["lines"]) == []
    assert len(rows(page(older))) == 1 + len(doc["lines"])  # the heading row and the lines, the kind left empty
