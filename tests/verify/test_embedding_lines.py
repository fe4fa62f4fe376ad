"""A statement with chat and embedding lines verifies, and its labels are checked: a label the host
changed and signed again fails at step (5), and so do terms that give a model another kind than
its leaves' endpoint serves."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from revshare.ledger.store import Ledger
from revshare.tlog import HostKey
from tests.support.settled_bundles import Env, edit, load
from tests.support.statement_bundles import at, catalog_toml, rec

EMBEDDING_MODEL = """
[[engines]]
id = "up"
kind = "upstream"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "llama-embed"
engine = "up"
licensor = "meta"
kind = "embedding"

[[prices]]
model = "llama-embed"
input_per_million = "0.05"
output_per_million = "0"
effective_from = 2026-01-01T00:00:00Z
"""
ST = "statement-meta-meta-llama-2026-01"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, Path, HostKey]:
    """January settled and exported for meta: llama-3-8b (chat) and llama-embed (embedding) lines."""
    tmp = tmp_path_factory.mktemp("embedding-lines")
    url = f"sqlite:///{tmp / 'ledger.db'}"
    config = tmp / "revshare.toml"
    config.write_text(catalog_toml(url, tmp / "data") + EMBEDDING_MODEL)
    ledger = Ledger(url)
    ledger.migrate()
    env = Env(ledger, config, tmp)
    ledger.append_now([rec("acme", at(1, 5), 3_000_000, 1_000_000, model="llama-3-8b"),
                       replace(rec("acme", at(1, 6), 30_000_000, 0, model="llama-embed"), endpoint="embeddings"),
                       replace(rec("demo", at(1, 7), 7_000_000, 0, model="llama-embed"), endpoint="embeddings")])
    env.ok("period", "close", "2026-01")
    env.ok("settle", "--period", "2026-01", "--out", str(tmp / "jan"))
    out = tmp / "jan-bundle"
    env.ok("export", "statement-bundle", "--period", "2026-01", "--licensor", "meta", "--out", str(out))
    ledger.close()
    return env, out, HostKey.load(tmp / "data" / "log.key")


def verify(env: Env, bundle: Path) -> tuple[int, str]:
    return env.run("verify", "statement", str(bundle), "--key", str(bundle / "host.vkey"))


def copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "copy"))


def resign(bundle: Path, key: HostKey, change: Any) -> None:
    edit(bundle / f"{ST}.json", change)
    statement = load(bundle / f"{ST}.json")
    edit(bundle / f"{ST}.sig", lambda s: s.update(signature=key.sign_json(statement),
                                                  sha256=hashlib.sha256(rfc8785.dumps(statement)).hexdigest()))


def test_the_statement_labels_its_lines_and_verifies(bundle: tuple[Env, Path, HostKey]) -> None:
    env, out, _ = bundle
    st = load(out / f"{ST}.json")
    assert [(x["model"], x["model_kind"], x["direction"], x["gross"]) for x in st["lines"]] == [
        ("llama-3-8b", "chat", "input", "0.60"), ("llama-3-8b", "chat", "output", "0.60"),
        ("llama-embed", "embedding", "input", "1.85")]
    terms = json.loads((out / "terms.json").read_text())
    assert {m["id"]: m["kind"] for m in terms["models"]} == {"llama-3-8b": "chat", "llama-embed": "embedding"}
    code, text = verify(env, out)
    assert code == 0 and f"OK: {ST}" in text, text


def test_a_label_changed_and_signed_again_is_rejected(bundle: tuple[Env, Path, HostKey], tmp_path: Path) -> None:
    env, out, key = bundle
    forged = copy(out, tmp_path)
    resign(forged, key, lambda s: s["lines"][2].update(model_kind="chat"))
    code, text = verify(env, forged)
    assert code != 0
    assert "step (5) figures: FigureMismatchError" in text and "figure .lines[2].model_kind" in text, text
    assert "'embedding'" in text and "'chat'" in text


def test_terms_that_contradict_the_leaves_endpoint_are_rejected(bundle: tuple[Env, Path, HostKey],
                                                               tmp_path: Path) -> None:
    # the host calls its embedding model a chat model in the terms and relabels the lines to match
    env, out, key = bundle
    forged = copy(out, tmp_path)
    edit(forged / "terms.json", lambda t: [m.update(kind="chat") for m in t["models"]])
    resign(forged, key, lambda s: s["lines"][2].update(model_kind="chat"))
    code, text = verify(env, forged)
    assert code != 0
    assert ("model 'llama-embed' has a leaf served on 'embeddings', an endpoint of embedding models, and the terms "
            "make it a chat model") in text, text


def test_a_statement_issued_before_the_label_still_verifies(bundle: tuple[Env, Path, HostKey],
                                                           tmp_path: Path) -> None:
    env, out, key = bundle
    older = copy(out, tmp_path)
    resign(older, key, lambda s: [x.pop("model_kind") for part in ("lines", "adjustments") for x in s[part]])
    code, text = verify(env, older)
    assert code == 0, text
