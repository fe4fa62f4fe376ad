"""Record ids: `rec_`, 12 hex digits of milliseconds, 16 random hex digits; unique, time-ordered,
and not shared with a forked child (the random digits are drawn from the OS in batches)."""

from __future__ import annotations

import os
import re
import time

import pytest

from revshare.metering.meter import new_record_id

_ID = re.compile(r"rec_[0-9a-f]{12}[0-9a-f]{16}")


def test_ids_are_well_formed_unique_and_ordered_by_their_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_record_id() for _ in range(5000)]  # many batches of the OS's randomness
    after = time.time_ns() // 1_000_000
    assert all(_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({i[16:] for i in ids}) == len(ids)  # the random part alone never repeats
    millis = [int(i[4:16], 16) for i in ids]
    assert millis == sorted(millis) and before <= millis[0] and millis[-1] <= after


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_does_not_reuse_the_parents_drawn_randomness() -> None:
    new_record_id()  # the parent holds a batch drawn, not yet used
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, ",".join(new_record_id()[16:] for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_record_id()[16:] for _ in range(100)}
    assert len(child) == 100 and not child & parent
