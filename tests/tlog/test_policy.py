"""C2SP tlog-policy: parsing (every refusal names its line) and the quorum over verified cosignatures."""

from __future__ import annotations

import pytest

from revshare.tlog import Checkpoint, HostKey, OriginMismatchError, UnknownKeyError
from revshare.tlog.cosignature import InvalidCosignatureError, WitnessKey
from revshare.tlog.policy import (
    NONE,
    MalformedPolicyError,
    PolicyError,
    QuorumNotMetError,
    parse_policy,
    verify_with_policy,
)

LOG = HostKey("log.example/revshare", bytes(32))
W = {n: WitnessKey(f"{n.lower()}.witness.example", bytes([i + 1]) * 32)
     for i, n in enumerate(["X1", "X2", "X3", "Y1", "Y2", "Y3"])}
TEXT = Checkpoint("log.example/revshare/google", 42, bytes(range(32))).to_text()

EXAMPLE = f"""\
# the spec's example, keys filled in
log {LOG.verifier_text()} https://log.example/

witness X1 {W['X1'].verifier_text()}
witness X2 {W['X2'].verifier_text()}
witness X3 {W['X3'].verifier_text()} https://x3.example/
group X-witnesses 2 X1 X2 X3

\twitness  Y1\t{W['Y1'].verifier_text()}   
witness Y2 {W['Y2'].verifier_text()}
witness Y3 {W['Y3'].verifier_text()}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def cosigned(*names: str, text: str = TEXT, log: HostKey = LOG) -> str:
    return log.sign_note(text) + "".join(W[n].cosign(text).to_line() for n in names)


def test_parse_the_spec_example() -> None:
    policy = parse_policy(EXAMPLE)
    assert [(v.name, url) for v, url in policy.logs] == [("log.example/revshare", "https://log.example/")]
    assert list(policy.witnesses) == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert policy.witnesses["X3"][1] == "https://x3.example/"
    assert policy.witnesses["Y1"][0] == W["Y1"].verifier()
    assert [(g.name, g.threshold, g.members) for g in policy.groups.values()] == [
        ("X-witnesses", 2, ("X1", "X2", "X3")),
        ("Y-witnesses", 1, ("Y1", "Y2", "Y3")),
        ("X-and-Y", 2, ("X-witnesses", "Y-witnesses")),
    ]
    assert policy.quorum == "X-and-Y"
    assert parse_policy(EXAMPLE.encode()) == policy


@pytest.mark.parametrize(("names", "met"), [
    (["X1", "X2", "Y3"], True),
    (["X1", "X2", "X3", "Y1", "Y2", "Y3"], True),
    (["X1", "Y1", "Y2"], False),
    (["X1", "X2"], False),
    ([], False),
])
def test_quorum_of_the_spec_example(names: list[str], met: bool) -> None:
    policy = parse_policy(EXAMPLE)
    note = cosigned(*names)
    if met:
        verdict = verify_with_policy(note, policy)
        assert verdict.checkpoint == Checkpoint.from_text(TEXT)
        assert sorted(verdict.cosignatures) == sorted(names)
    else:
        with pytest.raises(QuorumNotMetError) as caught:
            verify_with_policy(note, policy)
        assert caught.value.cosigned == sorted(names)


def test_quorum_not_met_names_what_is_missing() -> None:
    with pytest.raises(QuorumNotMetError) as caught:
        verify_with_policy(cosigned("X1", "Y2"), parse_policy(EXAMPLE))
    assert str(caught.value) == (
        "quorum X-and-Y is not met: group X-and-Y needs 2 of X-witnesses, Y-witnesses, has 1 (Y-witnesses); "
        "group X-witnesses needs 2 of X1, X2, X3, has 1 (X1) (valid cosignatures from: X1, Y2)")


def test_quorum_of_one_witness_and_of_none() -> None:
    one = parse_policy(f"log {LOG.verifier_text()}\nwitness A {W['X1'].verifier_text()}\nquorum A\n")
    assert set(verify_with_policy(cosigned("X1"), one).cosignatures) == {"A"}
    with pytest.raises(QuorumNotMetError, match="witness A has not cosigned"):
        verify_with_policy(cosigned("X2"), one)
    none = parse_policy(f"log {LOG.verifier_text()}\nquorum none\n")
    assert none.quorum == NONE
    assert verify_with_policy(cosigned(), none).cosignatures == {}


def test_the_log_must_have_signed() -> None:
    policy = parse_policy(EXAMPLE)
    stranger = HostKey("log.example/revshare", bytes([9]) * 32)
    with pytest.raises(UnknownKeyError):
        verify_with_policy(cosigned("X1", "X2", "Y1", log=stranger), policy)


def test_a_bad_cosignature_of_a_listed_witness_fails() -> None:
    forged = W["X2"].cosign(Checkpoint("log.example/revshare/google", 43, bytes(32)).to_text()).to_line()
    with pytest.raises(InvalidCosignatureError):
        verify_with_policy(cosigned("X1", "Y1") + forged, parse_policy(EXAMPLE))


def test_origin_is_checked_when_given() -> None:
    policy = parse_policy(EXAMPLE)
    note = cosigned("X1", "X2", "Y1")
    assert verify_with_policy(note, policy, origin="log.example/revshare/google")
    with pytest.raises(OriginMismatchError):
        verify_with_policy(note, policy, origin="log.example/revshare/meta")


def test_a_policy_without_logs_takes_the_log_key_from_the_caller() -> None:
    policy = parse_policy(f"witness A {W['X1'].verifier_text()}\nquorum A\n")
    assert verify_with_policy(cosigned("X1"), policy, log_keys=[LOG.verifier_text()])
    with pytest.raises(PolicyError, match="no log key"):
        verify_with_policy(cosigned("X1"), policy)


def test_unknown_cosigners_do_not_count() -> None:
    policy = parse_policy(f"log {LOG.verifier_text()}\nwitness A {W['X1'].verifier_text()}\nquorum A\n")
    with pytest.raises(QuorumNotMetError):
        verify_with_policy(cosigned("X2", "X3"), policy)


def test_deep_groups_are_decided_in_one_pass() -> None:
    lines = [f"log {LOG.verifier_text()}", f"witness A {W['X1'].verifier_text()}", "group g0 any A"]
    lines += [f"group g{i} all " + " ".join(f"g{j}" for j in range(i)) for i in range(1, 200)]
    policy = parse_policy("\n".join([*lines, "quorum g199"]))
    assert verify_with_policy(cosigned("X1"), policy)
    with pytest.raises(QuorumNotMetError):
        verify_with_policy(cosigned("X2"), policy)


V1, V2 = W["X1"].verifier_text(), W["X2"].verifier_text()
BAD = [
    # (policy text, the line named, what the message says)
    (f"witness A {V1}\n", 2, "no quorum line"),
    (f"witness A {V1}\nquorum A\nquorum A\n", 3, "second quorum"),
    ("quorum\n", 1, "want 'quorum <name>'"),
    ("quorum A B\n", 1, "want 'quorum <name>'"),
    ("quorum A\n", 1, "not a witness or group defined above"),
    (f"quorum A\nwitness A {V1}\n", 1, "not a witness or group defined above"),
    ("logs x\nquorum none\n", 1, "unknown keyword 'logs'"),
    ("log\nquorum none\n", 1, "want 'log <vkey> [<url>]'"),
    (f"log {LOG.verifier_text()} url extra\nquorum none\n", 1, "want 'log <vkey> [<url>]'"),
    ("log nonsense\nquorum none\n", 1, "log key"),
    (f"log {V1}\nquorum none\n", 1, "0x04 is not supported"),
    (f"log {LOG.verifier_text()}\nlog {HostKey('other', bytes(32)).verifier_text()}\nquorum none\n", 2,
     "duplicates an earlier log"),
    ("witness A\nquorum none\n", 1, "want 'witness <name> <vkey> [<url>]'"),
    (f"witness A {V1} url extra\nquorum none\n", 1, "want 'witness <name> <vkey> [<url>]'"),
    (f"witness A {LOG.verifier_text()}\nquorum none\n", 1, "witness A: key algorithm 0x01"),
    (f"witness none {V1}\nquorum none\n", 1, "'none' is predefined"),
    (f"witness A {V1}\nwitness A {V2}\nquorum none\n", 2, "'A' is already defined"),
    (f"witness A {V1}\nwitness B {WitnessKey('b', W['X1'].seed).verifier_text()}\nquorum none\n", 2,
     "witness B has the same key as witness A"),
    (f"witness A {V1}\ngroup A any A\nquorum none\n", 2, "'A' is already defined"),
    (f"witness A {V1}\ngroup g any\nquorum none\n", 2, "at least one member"),
    (f"witness A {V1}\ngroup g any none\nquorum none\n", 2, "'none' cannot be a member"),
    (f"witness A {V1}\ngroup g any A B\nquorum none\n", 2, "member 'B' is not a witness or group"),
    (f"witness A {V1}\ngroup g any A A\nquorum none\n", 2, "member 'A' is listed twice"),
    (f"witness A {V1}\ngroup g 0 A\nquorum none\n", 2, "threshold 0 of 1 members"),
    (f"witness A {V1}\ngroup g 2 A\nquorum none\n", 2, "threshold 2 of 1 members"),
    (f"witness A {V1}\ngroup g -1 A\nquorum none\n", 2, "threshold '-1'"),
    (f"witness A {V1}\ngroup g most A\nquorum none\n", 2, "threshold 'most'"),
    (f"witness A {V1}\ngroup g any g\nquorum none\n", 2, "'g' is not a witness or group defined above"),
    ("quorum none\r\n", 1, "control character '\\r'"),
    ("# fine\nquorum\x00 none\n", 2, "control character"),
]


@pytest.mark.parametrize(("text", "line", "says"), BAD, ids=[f"line{b[1]}-{b[2][:24]}" for b in BAD])
def test_every_refusal_names_its_line(text: str, line: int, says: str) -> None:
    with pytest.raises(MalformedPolicyError) as caught:
        parse_policy(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"policy line {line}: ")
    assert says in str(caught.value), str(caught.value)


def test_comments_blank_lines_and_whitespace_are_ignored() -> None:
    text = f"\n   # a comment\n\t\n  log\t{LOG.verifier_text()}  \n  quorum   none  \n# end"
    assert parse_policy(text).quorum == NONE


def test_names_are_opaque_octets() -> None:
    kelvin = "\u212a"  # the Kelvin sign is not the letter K
    policy = parse_policy(f"witness K {V1}\nwitness {kelvin} {V2}\ngroup both all K {kelvin}\nquorum both\n")
    assert list(policy.witnesses) == ["K", kelvin]
    raw = b"witness \xff " + V1.encode() + b"\nquorum \xff\n"  # not UTF-8, still a name
    assert len(parse_policy(raw).witnesses) == 1


def test_errors_are_policy_errors() -> None:
    assert issubclass(MalformedPolicyError, PolicyError) and issubclass(MalformedPolicyError, ValueError)
    assert issubclass(QuorumNotMetError, PolicyError)
