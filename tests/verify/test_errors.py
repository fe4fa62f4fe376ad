"""The statement verifier's errors: one per step, each drawn in the tree of errors.py's docstring."""

from __future__ import annotations

from revshare.verify import errors
from revshare.verify.statement import STEPS


def test_every_error_is_a_statement_verify_error_of_one_step() -> None:
    steps = {getattr(errors, name).step for name in errors.__all__}
    assert steps == {-1, *range(len(STEPS))}
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.StatementVerifyError), name


def test_every_error_is_drawn_in_the_hierarchy() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"{name} missing from the tree in errors.py's docstring"


def test_the_statement_module_still_exports_them() -> None:
    from revshare.verify import statement

    for name in errors.__all__:
        assert getattr(statement, name) is getattr(errors, name)
