"""The add-checkpoint body, read strictly: the spec's example, round trips, and each malformed case by name."""

from __future__ import annotations

import base64

import pytest

from revshare.witness import MalformedRequestError, parse_add_checkpoint, render_add_checkpoint
from revshare.witness.protocol import MAX_BODY, MAX_PROOF_LINES

SPEC_EXAMPLE = """\
old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
"""

H = base64.b64encode(bytes(32)).decode()


def test_the_spec_example_parses_and_renders_back() -> None:
    request = parse_add_checkpoint(SPEC_EXAMPLE.encode())
    assert request.old_size == 20852014
    assert [base64.b64encode(h).decode()[:8] for h in request.proof] == ["PlRNCrwH", "jrJZDmY8", "5+pKlUdi", "/6WVhPs2"]
    assert request.note.startswith("example.com/behind-the-sofa\n20852163\n")
    assert render_add_checkpoint(request.old_size, request.proof, request.note) == SPEC_EXAMPLE.encode()


def test_first_contact_body() -> None:
    request = parse_add_checkpoint(b"old 0\n\nnote\n")
    assert (request.old_size, request.proof, request.note) == (0, (), "note\n")


def test_limits_are_the_spec_s() -> None:
    body = render_add_checkpoint(1, [bytes(32)] * MAX_PROOF_LINES, "n\n")
    assert len(parse_add_checkpoint(body).proof) == 63
    assert MAX_BODY >= 16 * 1024


@pytest.mark.parametrize(("body", "says"), [
    (b"", "no blank line"),
    (b"old 0\nnote\n", "no blank line"),
    (b"\n\nnote\n", "want 'old <size>'"),
    (b"old\n\nnote\n", "want 'old <size>'"),
    (b"Old 1\n\nnote\n", "want 'old <size>'"),
    (b"old  1\n\nnote\n", "leading zero"),
    (b"old +1\n\nnote\n", "leading zero"),
    (b"old 00\n\nnote\n", "leading zero"),
    (b"old \xd9\xa1\n\nnote\n", "leading zero"),  # an Arabic-Indic one is a digit to Python, not ASCII
    (b"old 9223372036854775808\n\nnote\n", "2**63 - 1"),
    (f"old 0\n{H}\n\nnote\n".encode(), "proof must be empty from size 0"),
    (f"old 1\n{H[:-1]}\n\nnote\n".encode(), "not base64"),
    (f"old 1\n{H} \n\nnote\n".encode(), "not base64"),
    (f"old 1\n{base64.b64encode(bytes(31)).decode()}\n\nnote\n".encode(), "base64 of 32 bytes"),
    (("old 1\n" + f"{H}\n" * 64 + "\nnote\n").encode(), "64 proof lines"),
    (b"old 0\n\n", "no checkpoint"),
    (b"old 0\n\n\xc3\x28", "not UTF-8"),
    (b"old 0\n\n" + b"x" * MAX_BODY, "bytes, want <="),
])
def test_malformed(body: bytes, says: str) -> None:
    with pytest.raises(MalformedRequestError) as caught:
        parse_add_checkpoint(body)
    assert says in str(caught.value)


def test_proof_errors_name_the_line() -> None:
    with pytest.raises(MalformedRequestError, match="line 3"):
        parse_add_checkpoint(f"old 1\n{H}\n!!\n\nnote\n".encode())
