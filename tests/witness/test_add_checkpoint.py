"""C2SP tlog-witness add-checkpoint over HTTP, case by case, on checkpoints signed by revshare's own host key."""

from __future__ import annotations

import base64

import pytest

from revshare.tlog import Checkpoint, HostKey, open_note, parse_note
from revshare.tlog.cosignature import WitnessKey, verify_cosignatures
from revshare.tlog.hashing import EMPTY_ROOT
from revshare.witness import Witness, render_add_checkpoint
from tests.support.witness import HOST_KEY, NOW, ORIGIN, WITNESS_NAME, Client, Log

SIZE_TYPE = "text/x.tlog.size"


def post(client: Client, body: bytes) -> tuple[int, str, str]:
    reply = client.post("/add-checkpoint", content=body)
    return reply.status_code, reply.headers.get("content-type", ""), reply.text


def test_first_contact_is_cosigned(client: Client, log: Log, witness_key: WitnessKey) -> None:
    status, media, text = post(client, log.body(0))
    assert status == 200, text
    assert media.startswith("text/plain")
    assert text.startswith(f"— {WITNESS_NAME} ") and text.endswith("\n") and text.count("\n") == 1
    # As the spec says a client does: append the lines to the checkpoint, verify with the witness key.
    cosigs = verify_cosignatures(log.note() + text, [witness_key.verifier_text()])
    assert [c.timestamp for c in cosigs.values()] == [NOW]


def test_growth_with_a_proof_is_cosigned_and_served(client: Client, log: Log, witness_key: WitnessKey) -> None:
    assert post(client, log.body(0))[0] == 200
    log.append(7)
    status, _, text = post(client, log.body(5))
    assert status == 200, text
    served = client.get(f"/checkpoint/{ORIGIN}")
    assert served.status_code == 200
    note = served.text
    assert open_note(note, HOST_KEY.verifier()) == log.checkpoint().to_text()
    (cosig,) = verify_cosignatures(note, [witness_key.verifier()]).values()
    assert cosig.to_line() == text
    assert [s.name for s in parse_note(note).signatures] == [HOST_KEY.name, WITNESS_NAME]


def test_every_size_step_is_cosigned(client: Client) -> None:
    log, cosigned = Log().append(1), 0
    for step in range(40):
        status, _, text = post(client, log.body(cosigned))
        assert status == 200, (step, text)
        cosigned = log.tree.size
        log.append(step % 3 + 1)


@pytest.mark.parametrize(("stored", "old"), [(0, 3), (5, 0), (5, 3), (5, 4)])
def test_old_size_mismatch_is_409_with_the_size(client: Client, stored: int, old: int) -> None:
    log = Log().append(9)
    if stored:
        assert post(client, log.body(0, stored))[0] == 200
    status, media, text = post(client, render_add_checkpoint(old, log.proof(old), log.note()))
    assert (status, media, text) == (409, SIZE_TYPE, f"{stored}\n")


def test_client_retries_with_the_size_a_409_gives(client: Client, log: Log) -> None:
    assert post(client, log.body(0))[0] == 200
    log.append(3)
    status, _, text = post(client, log.body(0))  # a client that knows nothing yet
    assert (status, text) == (409, "5\n")
    assert post(client, log.body(int(text)))[0] == 200


def test_a_bad_proof_is_422(client: Client, log: Log) -> None:
    assert post(client, log.body(0))[0] == 200
    log.append(6)
    proof = log.proof(5)
    tampered = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert post(client, render_add_checkpoint(5, tampered, log.note()))[0] == 422
    assert post(client, render_add_checkpoint(5, proof[:-1], log.note()))[0] == 422
    assert post(client, render_add_checkpoint(5, [], log.note()))[0] == 422
    assert post(client, log.body(5))[0] == 200  # the state was not moved by the refusals


def test_a_fork_is_never_cosigned(client: Client, witness: Witness, log: Log) -> None:
    assert post(client, log.body(0))[0] == 200
    fork = log.fork(3).append(4, tag="forged ")
    # The fork's own proof from 5 cannot exist: the root at 5 differs, so any proof fails.
    forged_proof = fork.proof(5)
    status, _, text = post(client, render_add_checkpoint(5, forged_proof, fork.note()))
    assert status == 422, text
    assert [reason.split(":")[0] for _, reason, _ in witness.store.evidence(ORIGIN)] == ["BadProofError"]


def test_same_size_other_root_is_409_conflict_not_a_size(client: Client, witness: Witness, log: Log) -> None:
    assert post(client, log.body(0))[0] == 200
    fork = log.fork(2).append(3, tag="forged ")
    status, media, text = post(client, render_add_checkpoint(5, [], fork.note()))
    assert status == 409 and not media.startswith(SIZE_TYPE), (status, media, text)
    assert "differs from the cosigned root" in text
    (received_at, reason, request), = witness.store.evidence(ORIGIN)
    assert received_at == NOW and reason.startswith("ForkError") and fork.note() in request
    assert client.get(f"/checkpoint/{ORIGIN}").text.startswith(log.checkpoint().to_text())


def test_same_size_same_root_is_cosigned_again(make_witness, log: Log) -> None:  # type: ignore[no-untyped-def]
    times = iter(range(NOW, NOW + 600, 60))
    witness = make_witness(clock=lambda: next(times))
    first = witness.add_checkpoint(log.body(0))
    again = witness.add_checkpoint(log.body(5))
    assert first != again
    assert witness.latest_checkpoint(ORIGIN).endswith(again)
    with pytest.raises(Exception, match="proof hashes between equal sizes"):
        witness.add_checkpoint(render_add_checkpoint(5, [bytes(32)], log.note()))


def test_unknown_log_is_404(client: Client) -> None:
    other = Log(origin="revshare.example/revshare/meta").append(2)
    status, _, text = post(client, other.body(0))
    assert status == 404 and "revshare.example/revshare/meta" in text
    assert client.get("/checkpoint/revshare.example/revshare/meta").status_code == 404


def test_bad_log_signature_is_403(client: Client, log: Log) -> None:
    impostor = Log(key=HostKey(HOST_KEY.name, bytes(32))).append_leaves(log.leaves)  # same name, other key
    assert post(client, impostor.body(0))[0] == 403
    note = log.note()
    text, sig = note.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    assert post(client, render_add_checkpoint(0, [], f"{text} {base64.b64encode(raw).decode()}\n"))[0] == 403
    only_strangers = WitnessKey.generate("stranger.example/w")
    body = log.checkpoint().to_text() + "\n" + only_strangers.cosign(log.checkpoint().to_text()).to_line()
    assert post(client, render_add_checkpoint(0, [], body))[0] == 403
    assert client.get(f"/checkpoint/{ORIGIN}").status_code == 404  # nothing was cosigned


def test_signatures_of_unknown_keys_are_ignored_and_not_served(client: Client, log: Log) -> None:
    other = WitnessKey.generate("other.example/w").cosign(log.checkpoint().to_text()).to_line()
    assert post(client, render_add_checkpoint(0, [], log.note() + other))[0] == 200
    served = client.get(f"/checkpoint/{ORIGIN}").text
    assert "other.example/w" not in served


def test_extension_lines_are_refused(client: Client, log: Log) -> None:
    status, _, text = post(client, render_add_checkpoint(0, [], log.note(extensions=("rekor.example - 1234",))))
    assert status == 400 and "extension line" in text


def test_old_size_larger_than_the_checkpoint_is_400(client: Client, log: Log) -> None:
    log.append(4)
    assert post(client, log.body(0))[0] == 200
    status, _, text = post(client, render_add_checkpoint(9, [], log.note(5)))  # a rollback attempt
    assert status == 400 and "old size 9 > checkpoint size 5" in text


def test_empty_tree_checkpoints(client: Client) -> None:
    log = Log()
    assert post(client, log.body(0))[0] == 200  # size 0, the empty root
    log.append(3)
    assert post(client, log.body(0))[0] == 200  # from size 0 there is nothing to prove
    assert post(client, log.body(0, 0)) == (409, SIZE_TYPE, "3\n")  # no way back to the empty tree


def test_an_empty_checkpoint_must_have_the_empty_root(client: Client) -> None:
    bogus = HOST_KEY.sign_note(Checkpoint(ORIGIN, 0, bytes(32)).to_text())
    status, _, text = post(client, render_add_checkpoint(0, [], bogus))
    assert status == 422 and EMPTY_ROOT.hex() in text


MALFORMED = [
    (b"old 0\n", "no blank line"),
    (b"new 0\n\nx", "want 'old <size>'"),
    (b"old 01\n\nx", "leading zero"),
    (b"old -1\n\nx", "leading zero"),
    (b"old 1 \n\nx", "leading zero"),
    (b"old 9223372036854775808\n\nx", "2**63 - 1"),
    (b"old 0\nAAAA\n\nx", "proof must be empty from size 0"),
    (b"old 1\n!!!!\n\nx", "not base64"),
    (b"old 1\nAAAA\n\nx", "base64 of 32 bytes"),
    (b"old 1\n" + b"".join(base64.b64encode(bytes(32)) + b"\n" for _ in range(64)) + b"\nx", "64 proof lines"),
    (b"old 0\n\n", "no checkpoint after the blank line"),
    (b"old 0\n\n\xff\n", "not UTF-8"),
    (b"old 0\n\nno signatures\n", "checkpoint note"),
    (b"old 0\n\n" + b"x" * 70_000, "bytes"),
]


@pytest.mark.parametrize(("body", "says"), MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_bodies_are_400(client: Client, body: bytes, says: str) -> None:
    status, _, text = post(client, body)
    assert status == 400 and says in text, (status, text)


def test_a_malformed_checkpoint_signed_by_the_log_is_400(client: Client) -> None:
    note = HOST_KEY.sign_note(f"{ORIGIN}\n007\n{base64.b64encode(bytes(32)).decode()}\n")
    status, _, text = post(client, render_add_checkpoint(0, [], note))
    assert status == 400 and "size '007'" in text


def test_only_post_and_get_where_the_spec_says(client: Client) -> None:
    assert client.get("/add-checkpoint").status_code == 405
    assert client.post(f"/checkpoint/{ORIGIN}").status_code == 405
    assert client.get(f"/checkpoint/{ORIGIN}").status_code == 404  # followed, but nothing cosigned yet


def test_the_state_survives_a_restart(make_witness, log: Log) -> None:  # type: ignore[no-untyped-def]
    make_witness().add_checkpoint(log.body(0))
    log.append(2)
    with pytest.raises(Exception, match="old size 0 is not the latest cosigned size 5"):
        make_witness().add_checkpoint(log.body(0))
    assert make_witness().add_checkpoint(log.body(5))
