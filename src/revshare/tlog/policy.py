"""C2SP tlog-policy: which logs to trust, which witnesses, and how many must cosign.

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>|none

Items are separated by spaces and tabs only; blank lines and `#` comments are skipped. A group
or the quorum names only witnesses and groups defined on earlier lines; `none` is predefined
(no cosignature needed) and may not be a group member; a name is a member of a group at most
once; 1 <= k <= n; exactly one quorum line; no two logs (or two witnesses) share a public key.
Log keys are Ed25519 note keys (0x01), witness keys cosignature/v1 keys (0x04).

Every syntax error is a MalformedPolicyError naming the line (`policy line 7: ...`). A
checkpoint the policy does not accept raises the note errors of open_note (no listed log
signed it), the cosignature errors of verify_cosignatures, or QuorumNotMetError, which says
which group lacks which witnesses.

One deviation, named: the spec says a log's key name MUST be its origin. A revshare host
signs every log with one key named after the origin prefix, so `verify_with_policy` does not
tie the key name to the origin; pass `origin=` to require a given log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from revshare.tlog.checkpoint import Checkpoint
from revshare.tlog.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures
from revshare.tlog.errors import NoteError, OriginMismatchError, TlogError
from revshare.tlog.note import Verifier, open_note

__all__ = [
    "NONE",
    "Group",
    "MalformedPolicyError",
    "Policy",
    "PolicyError",
    "PolicyVerdict",
    "QuorumNotMetError",
    "parse_policy",
    "verify_with_policy",
]

NONE = "none"
MAX_ITEMS = 256  # per kind: logs, witnesses, groups (the spec asks for at least 32)
_BLANKS = " \t"


class PolicyError(TlogError):
    """A policy that cannot be read, or a checkpoint it does not accept."""


class MalformedPolicyError(PolicyError, ValueError):
    """A policy line that is not C2SP tlog-policy; the message names the line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"policy line {line}: {message}")
        self.line, self.reason = line, message


class QuorumNotMetError(PolicyError):
    """The verified cosignatures do not satisfy the policy's quorum."""

    def __init__(self, quorum: str, missing: str, cosigned: list[str]) -> None:
        got = ", ".join(cosigned) or "none"
        super().__init__(f"quorum {quorum} is not met: {missing} (valid cosignatures from: {got})")
        self.quorum, self.missing, self.cosigned = quorum, missing, cosigned


@dataclass(frozen=True)
class Group:
    """A named group: witnessed when at least `threshold` of its `members` are."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed tlog-policy.

    Attributes:
        logs: the accepted log keys, in file order, each with its URL ("" if none).
        witnesses: policy name -> (witness key, URL or "").
        groups: group name -> Group, in file order.
        quorum: a witness or group name, or NONE.
    """

    logs: tuple[tuple[Verifier, str], ...]
    witnesses: Mapping[str, tuple[CosignatureVerifier, str]]
    groups: Mapping[str, Group]
    quorum: str

    def log_verifiers(self) -> list[Verifier]:
        return [v for v, _ in self.logs]

    def witness_verifiers(self) -> list[CosignatureVerifier]:
        return [v for v, _ in self.witnesses.values()]

    def witnessed(self, cosigned: set[str]) -> set[str]:
        """Every witness and group that has witnessed, given the witnesses that cosigned.

        Groups name only earlier names, so one pass in file order decides each once.
        """
        done = {NONE} | (cosigned & set(self.witnesses))
        for group in self.groups.values():
            if sum(m in done for m in group.members) >= group.threshold:
                done.add(group.name)
        return done

    def shortfall(self, name: str, witnessed: set[str]) -> str:
        """Why `name` has not witnessed: each group short of its threshold, down from `name`, once."""
        if name not in self.groups:
            return f"witness {name} has not cosigned"
        lines: list[str] = []
        todo, seen = [name], set()
        while todo:
            group = self.groups[todo.pop(0)]
            if group.name in seen:
                continue
            seen.add(group.name)
            done = [m for m in group.members if m in witnessed]
            lines.append(f"group {group.name} needs {group.threshold} of {', '.join(group.members)}, "
                         f"has {len(done)}" + (f" ({', '.join(done)})" if done else ""))
            todo += [m for m in group.members if m not in witnessed and m in self.groups]
        return "; ".join(lines)


@dataclass(frozen=True)
class PolicyVerdict:
    """A checkpoint the policy accepts: its body, and the witnesses' verified cosignatures by name."""

    checkpoint: Checkpoint
    cosignatures: Mapping[str, Cosignature]


def parse_policy(source: str | bytes) -> Policy:
    """Parse a C2SP tlog-policy file, raising MalformedPolicyError with the line at the first fault."""
    text = source.decode("utf-8", "surrogateescape") if isinstance(source, bytes) else source
    logs: list[tuple[Verifier, str]] = []
    witnesses: dict[str, tuple[CosignatureVerifier, str]] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        bad = next((c for c in raw if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F), None)
        if bad is not None:
            raise MalformedPolicyError(number, f"control character {bad!r}: only tab and newline are allowed")
        items = _split(raw)
        if not items or items[0].startswith("#"):
            continue
        keyword, args = items[0], items[1:]
        if keyword == "log":
            _parse_log(number, args, logs)
        elif keyword == "witness":
            _parse_witness(number, args, witnesses, groups)
        elif keyword == "group":
            _parse_group(number, args, witnesses, groups)
        elif keyword == "quorum":
            if quorum is not None:
                raise MalformedPolicyError(number, "a second quorum line: want exactly one")
            if len(args) != 1:
                raise MalformedPolicyError(number, "want 'quorum <name>'")
            if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                raise MalformedPolicyError(number, f"quorum {args[0]!r} is not a witness or group defined above")
            quorum = args[0]
        else:
            raise MalformedPolicyError(number, f"unknown keyword {keyword!r}: want log, witness, group or quorum")
    if quorum is None:
        raise MalformedPolicyError(number, "no quorum line: want exactly one")
    return Policy(tuple(logs), witnesses, groups, quorum)


def _split(line: str) -> list[str]:
    for blank in _BLANKS[1:]:
        line = line.replace(blank, " ")
    return [item for item in line.split(" ") if item]


def _parse_log(number: int, args: list[str], logs: list[tuple[Verifier, str]]) -> None:
    if len(args) not in (1, 2):
        raise MalformedPolicyError(number, "want 'log <vkey> [<url>]'")
    try:
        key = Verifier.from_text(args[0])
    except NoteError as exc:
        raise MalformedPolicyError(number, f"log key: {exc}") from None
    if any(v.public_key == key.public_key for v, _ in logs):
        raise MalformedPolicyError(number, f"log key {key.name}+{key.key_id.hex()} duplicates an earlier log's key")
    if len(logs) >= MAX_ITEMS:
        raise MalformedPolicyError(number, f"more than {MAX_ITEMS} logs")
    logs.append((key, args[1] if len(args) == 2 else ""))


def _parse_witness(number: int, args: list[str], witnesses: dict[str, tuple[CosignatureVerifier, str]],
                   groups: Mapping[str, Group]) -> None:
    if len(args) not in (2, 3):
        raise MalformedPolicyError(number, "want 'witness <name> <vkey> [<url>]'")
    name = args[0]
    _check_new_name(number, name, witnesses, groups)
    try:
        key = CosignatureVerifier.from_text(args[1])
    except NoteError as exc:
        raise MalformedPolicyError(number, f"witness {name}: {exc}") from None
    for other, (v, _) in witnesses.items():
        if v.public_key == key.public_key:
            raise MalformedPolicyError(number, f"witness {name} has the same key as witness {other}")
    if len(witnesses) >= MAX_ITEMS:
        raise MalformedPolicyError(number, f"more than {MAX_ITEMS} witnesses")
    witnesses[name] = (key, args[2] if len(args) == 3 else "")


def _parse_group(number: int, args: list[str], witnesses: Mapping[str, object], groups: dict[str, Group]) -> None:
    if len(args) < 3:
        raise MalformedPolicyError(number, "want 'group <name> all|any|<k> <name>...' with at least one member")
    name, rule, members = args[0], args[1], args[2:]
    _check_new_name(number, name, witnesses, groups)
    for member in members:
        if member == NONE:
            raise MalformedPolicyError(number, f"group {name}: 'none' cannot be a member")
        if member not in witnesses and member not in groups:
            raise MalformedPolicyError(number, f"group {name}: member {member!r} is not a witness or group "
                                               "defined above")
    seen = [m for i, m in enumerate(members) if m in members[:i]]
    if seen:
        raise MalformedPolicyError(number, f"group {name}: member {seen[0]!r} is listed twice")
    if rule == "all":
        threshold = len(members)
    elif rule == "any":
        threshold = 1
    elif rule.isascii() and rule.isdigit():
        threshold = int(rule)
        if not 1 <= threshold <= len(members):
            raise MalformedPolicyError(number, f"group {name}: threshold {rule} of {len(members)} members: "
                                               f"want 1 <= k <= {len(members)}")
    else:
        raise MalformedPolicyError(number, f"group {name}: threshold {rule!r}: want all, any or a decimal k")
    if len(groups) >= MAX_ITEMS:
        raise MalformedPolicyError(number, f"more than {MAX_ITEMS} groups")
    groups[name] = Group(name, threshold, tuple(members))


def _check_new_name(number: int, name: str, witnesses: Mapping[str, object], groups: Mapping[str, Group]) -> None:
    if name == NONE:
        raise MalformedPolicyError(number, "'none' is predefined and cannot be redefined")
    if name in witnesses or name in groups:
        raise MalformedPolicyError(number, f"name {name!r} is already defined (witnesses and groups share names)")


def verify_with_policy(
    note_text: str,
    policy: Policy,
    *,
    origin: str | None = None,
    log_keys: Iterable[Verifier | str] = (),
    not_after: int | None = None,
) -> PolicyVerdict:
    """Check a cosigned checkpoint against a policy; return its body and the cosignatures counted.

    (1) A log of the policy signed it (open_note), or, when the policy lists no log (the spec
    allows that where the log is known from context), one of `log_keys`; (2) it is a checkpoint, of `origin` if given;
    (3) every cosignature of a policy witness verifies (verify_cosignatures, `not_after` as
    there); (4) the witnesses that cosigned satisfy the quorum, else QuorumNotMetError.
    """
    keys = policy.log_verifiers() or [Verifier.from_text(k) if isinstance(k, str) else k for k in log_keys]
    if not keys:
        raise PolicyError("no log key: the policy lists no log, and none was given")
    checkpoint = Checkpoint.from_text(open_note(note_text, keys))
    if origin is not None and checkpoint.origin != origin:
        raise OriginMismatchError(checkpoint.origin, origin)
    verified = verify_cosignatures(note_text, policy.witness_verifiers(), not_after=not_after)
    by_name = {name: verified[v] for name, (v, _) in policy.witnesses.items() if v in verified}
    witnessed = policy.witnessed(set(by_name))
    if policy.quorum not in witnessed:
        raise QuorumNotMetError(policy.quorum, policy.shortfall(policy.quorum, witnessed), sorted(by_name))
    return PolicyVerdict(checkpoint, by_name)
