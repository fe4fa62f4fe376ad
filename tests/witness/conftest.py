"""Fixtures of the witness tests: a log, a witness folder that follows it, witnesses on its database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from revshare.tlog.cosignature import WitnessKey
from revshare.witness import Witness, WitnessStore, init_home, load_home
from revshare.witness.app import create_app
from tests.support.witness import HOST_KEY, NOW, ORIGIN, WITNESS_NAME, Client, Log, witness_toml


@pytest.fixture
def log() -> Log:
    return Log().append(5)


@pytest.fixture
def witness_dir(tmp_path: Path) -> Path:
    path = tmp_path / "witness"
    init_home(path, WITNESS_NAME)
    (path / "witness.toml").write_text(witness_toml((ORIGIN, HOST_KEY.verifier_text())))
    return path


@pytest.fixture
def make_witness(witness_dir: Path) -> Callable[..., Witness]:
    """A Witness on the folder's key, logs and database; several share the one database file."""

    def make(*, before_swap: Callable[[], None] | None = None, clock: Callable[[], float] = lambda: NOW) -> Witness:
        home = load_home(witness_dir)
        return Witness(home.key, home.logs, WitnessStore(home.database), clock=clock, before_swap=before_swap)

    return make


@pytest.fixture
def witness(make_witness: Callable[..., Witness]) -> Witness:
    return make_witness()


@pytest.fixture
def witness_key(witness_dir: Path) -> WitnessKey:
    return WitnessKey.load(witness_dir / "witness.key")


@pytest.fixture
def client(witness: Witness) -> Client:
    return Client(create_app(witness))
