"""`quorate locks` away from the lock master: the master's table fits one datagram, and the listing says where it
came from, what was left out, or why it is missing."""

from __future__ import annotations

import json

from quorate.cli.lock_cmd import render
from quorate.core.lock_messages import LockTableIs
from quorate.core.messages import decode, encode
from quorate.core.node_requests import TABLE_BUDGET, fit_table
from quorate.node.wire import MAX_PAYLOAD


def resource(i: int) -> dict[str, object]:
    holder = {"node": "casper.localdomain", "lkid": i, "granted": "PR", "requested": None, "orphan": False}
    return {
        "lockspace": "lvm",
        "name": f"vg_{i:04d}",
        "granted": [holder],
        "converting": [],
        "waiting": [],
        "lvb_seq": 0,
    }


def test_a_small_table_is_sent_whole() -> None:
    rows = [resource(i) for i in range(3)]
    text, omitted = fit_table(rows)
    assert (json.loads(text), omitted) == (rows, 0)


def test_a_large_table_is_cut_to_one_datagram_and_counts_the_rest() -> None:
    rows = [resource(i) for i in range(500)]
    text, omitted = fit_table(rows)
    kept = json.loads(text)
    assert 0 < len(kept) < 500 and len(kept) + omitted == 500
    assert kept == rows[: len(kept)]  # the first ones by name, none half-sent
    assert len(text.encode()) <= TABLE_BUDGET
    wire = encode(LockTableIs(7, text, omitted))
    assert len(wire) <= MAX_PAYLOAD and decode(wire) == LockTableIs(7, text, omitted)


def test_listing_names_the_source_and_what_is_missing() -> None:
    base = {"master": "balthasar.localdomain", "master_here": False, "state": "ready", "local": []}
    shown = render({**base, "resources": [resource(1)], "resources_from": "balthasar.localdomain",
                    "resources_omitted": 12})  # fmt: skip
    assert "Cluster table (from the lock master balthasar.localdomain):" in shown
    assert "  lvm/vg_0001: granted: casper.localdomain PR" in shown
    assert "... and 12 more (run quorate locks on the lock master)" in shown
    missing = render({**base, "resources": None, "resources_error": "the lock master did not answer within 1 s"})
    assert "Cluster table: not available (the lock master did not answer within 1 s)" in missing
