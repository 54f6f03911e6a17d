"""`quorate status` text: the peers' clock offsets and the node's last decision events (E-1, E-4)."""

from __future__ import annotations

import time
from typing import Any

from quorate.node.status_text import render_status


def _status(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "cluster_name": "magi", "cluster_id": 1571, "config_version": 3, "node_name": "balthasar.localdomain",
        "node_id": 1, "state": "Cluster-Member", "generation": 4, "coordinator": 1, "quorate": True,
        "total_votes": 3, "expected_votes": 3, "quorum": 2, "reason": "quorate: 3 votes, quorum 2", "nodes": [],
        "transport": {"accepted": 10, "sent": 10, "dropped": {}, "undecodable": 0},
    }  # fmt: skip
    doc.update(extra)
    return doc


def test_offsets_are_listed_and_the_ones_above_the_threshold_marked() -> None:
    offsets = [
        {"nodeid": 2, "name": "casper.localdomain", "offset": 5.0031, "delay": 0.0004, "samples": 8},
        {"nodeid": 3, "name": "melchior.localdomain", "offset": -0.0002, "delay": 0.0003, "samples": 8},
    ]
    text = render_status(_status(clock_offsets=offsets, clock_warn_above=1.0))
    assert ("Clock offsets: casper.localdomain +5.003 s (above the warning threshold), "
            "melchior.localdomain -0.000 s") in text.splitlines()  # fmt: skip


def test_the_last_five_events_with_their_time() -> None:
    at = time.mktime((2026, 12, 3, 19, 9, 38, 0, 0, -1))
    events = [
        {"at": at + i, "view": 4, "kind": "fence", "subject": "melchior.localdomain", "outcome": "run",
         "reason": f"F-20: attempt {i + 1}: left the view without leaving cleanly"}
        for i in range(7)
    ]  # fmt: skip
    lines = render_status(_status(events=events)).splitlines()
    start = lines.index("Recent events (quorate timeline for the whole cluster):")
    assert lines[start + 1:] == [
        f"  19:09:{40 + i} fence melchior.localdomain run: F-20: attempt {i + 3}: left the view without leaving cleanly"
        for i in range(5)
    ]


def test_no_offsets_and_no_events_add_nothing() -> None:
    text = render_status(_status())
    assert "Clock offsets" not in text and "Recent events" not in text


def test_timers_run_late_are_counted_on_the_transport_line() -> None:
    transport = {"accepted": 10, "sent": 10, "dropped": {}, "undecodable": 0, "late_timers": 2}
    assert ("Transport: 10 datagrams accepted, 10 sent; dropped: none; undecodable: 0; heartbeats held up 2 times "
            "(see the log)") in render_status(_status(transport=transport)).splitlines()  # fmt: skip
    assert "held up" not in render_status(_status())


def test_the_json_form_is_the_document_a_status_request_carries() -> None:
    """`quorate status --json` is laid out by the daemon now: it must print what decoding a `status` answer on
    the command's side printed before (same keys, order and numbers)."""
    import json
    import sys
    from pathlib import Path

    import msgspec

    from quorate.node import protocol
    from quorate.node.status import StatusDoc
    from quorate.node.status_text import status_text

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
    from status_samples import status_doc

    doc = msgspec.convert(status_doc(), StatusDoc)
    carried = msgspec.to_builtins(protocol.decode_status(protocol.encode(protocol.StatusAnswer(True, doc))))
    assert status_text(doc, as_json=True) == json.dumps(carried, indent=2) + "\n"
    assert status_text(doc, as_json=False) == render_status(carried) + "\n"
    assert '"cluster_name": "magi"' in status_text(doc, as_json=True)
