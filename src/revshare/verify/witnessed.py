"""A witness policy held against a checkpoint: are the cosignatures its quorum wants there?

    read_policy(text, source)                    a C2SP tlog-policy, or MalformedPolicyError naming the line
    check_cosigned(note, policy, vkey, origin)   the PolicyVerdict, or the error of the first check that fails
    describe(verdict, policy)                    one line: who cosigned, the quorum met

The policy is the verifier's own (the witnesses it trusts, how many must have cosigned), never
one the host sent. `check_cosigned` runs `revshare.tlog.policy.verify_with_policy` with the host
key the verifier holds as the log's key when the policy names no log (a policy that names one
must have it sign too). A checkpoint short of the quorum raises QuorumNotMetError naming the
quorum, each group short of its threshold, and the witnesses whose cosignature is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from revshare.tlog.note import Verifier
from revshare.tlog.policy import (
    NONE,
    MalformedPolicyError,
    Policy,
    PolicyVerdict,
    QuorumNotMetError,
    parse_policy,
    verify_with_policy,
)

__all__ = ["check_cosigned", "describe", "missing_witnesses", "read_policy"]

VerifierArg = Verifier | str | Sequence[Verifier | str]


def read_policy(text: str, source: str = "policy") -> Policy:
    """Parse a tlog-policy file; a fault is a MalformedPolicyError naming `source` and the line."""
    try:
        return parse_policy(text)
    except MalformedPolicyError as exc:
        raise MalformedPolicyError(exc.line, f"{exc.reason} (in {source})") from None


def missing_witnesses(policy: Policy, cosigned: set[str]) -> list[str]:
    """The policy's witnesses under its quorum (through its groups) that have not cosigned, sorted."""
    todo, seen, missing = [policy.quorum], set(), set()
    while todo:
        name = todo.pop()
        if name in seen or name == NONE:
            continue
        seen.add(name)
        if name in policy.groups:
            todo += policy.groups[name].members
        elif name not in cosigned:
            missing.add(name)
    return sorted(missing)


def check_cosigned(note: str, policy: Policy, verifier: VerifierArg, *, origin: str | None = None) -> PolicyVerdict:
    """The checkpoint note's cosignatures against the policy; raise the first failure's TlogError."""
    keys = [verifier] if isinstance(verifier, Verifier | str) else list(verifier)
    try:
        return verify_with_policy(note, policy, origin=origin, log_keys=keys)
    except QuorumNotMetError as exc:
        missing = missing_witnesses(policy, set(exc.cosigned))
        named = ", ".join(f"{m} ({policy.witnesses[m][0].name}+{policy.witnesses[m][0].key_id.hex()})"
                          for m in missing)
        raise QuorumNotMetError(exc.quorum, f"{exc.missing}; no valid cosignature from {named or 'any'}",
                                exc.cosigned) from None


def describe(verdict: PolicyVerdict, policy: Policy) -> str:
    """`cosigned by w1, w2: quorum q met`."""
    names = ", ".join(sorted(verdict.cosignatures)) or "no witness"
    if policy.quorum == NONE:
        return f"cosigned by {names}: quorum none (no cosignature needed)"
    return f"cosigned by {names}: quorum {policy.quorum} met"
