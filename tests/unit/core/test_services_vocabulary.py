"""The resource manager's words on the wire and at its entry points: same strings as ever, typos refused."""

from __future__ import annotations

import re

import msgspec
import pytest
from services_wiring import Cluster

from quorate.core.messages import (
    MalformedMessage,
    SvcCommand,
    SvcInventory,
    SvcRecord,
    SvcReply,
    SvcReport,
    SvcRequest,
    SvcTable,
    ViewId,
    decode,
    encode,
)
from quorate.core.placement import ServiceSpec
from quorate.core.services import Action, AdminOp, Answer, Outcome, St

RECORD = SvcRecord("svc", St.STARTED, 3, 0, 0, False, True, True, "started on melchior", 100002)
PLAIN_RECORD = SvcRecord("svc", "started", 3, 0, 0, False, True, True, "started on melchior", 100002)  # type: ignore[arg-type]

# Each message with the enums, and as it was built before they existed (plain strings).
MESSAGES = [
    (SvcCommand("svc", Action.START, 7), SvcCommand("svc", "start", 7)),  # type: ignore[arg-type]
    (SvcReport("svc", 7, Outcome.START_FAILED, "exit 1"), SvcReport("svc", 7, "start_failed", "exit 1")),  # type: ignore[arg-type]
    (SvcRequest(4, AdminOp.RELOCATE, "svc", 2), SvcRequest(4, "relocate", "svc", 2)),  # type: ignore[arg-type]
    (SvcReply(4, True, Answer.ALREADY_RUNNING, 3), SvcReply(4, True, "Service is already running", 3)),  # type: ignore[arg-type]
    (SvcTable((RECORD,)), SvcTable((PLAIN_RECORD,))),
    (
        SvcInventory(ViewId(3, 1), (("svc", St.STOPPING),), (RECORD,)),
        SvcInventory(ViewId(3, 1), (("svc", "stopping"),), (PLAIN_RECORD,)),  # type: ignore[arg-type]
    ),
]


@pytest.mark.parametrize(("typed", "plain"), MESSAGES, ids=lambda m: type(m).__name__)
def test_the_wire_format_is_unchanged(typed: msgspec.Struct, plain: msgspec.Struct) -> None:
    data = encode(typed)  # type: ignore[arg-type]
    assert data == encode(plain)  # type: ignore[arg-type]
    assert decode(data) == typed


@pytest.mark.parametrize(
    ("message", "where"),
    [
        (SvcCommand("svc", "launch", 7), "$[2]"),  # type: ignore[arg-type]
        (SvcReport("svc", 7, "exploded"), "$[3]"),  # type: ignore[arg-type]
        (SvcRequest(4, "migrate", "svc"), "$[2]"),  # type: ignore[arg-type]
        (SvcReply(4, False, "Maybe later"), "$[3]"),  # type: ignore[arg-type]
        (SvcTable((SvcRecord("svc", "confused", 0, 0, 0, False, False, True),)), "$[1][0][1]"),  # type: ignore[arg-type]
        (SvcInventory(ViewId(1, 1), (("svc", "running"),)), "$[2][0][1]"),  # type: ignore[arg-type]
    ],
    ids=["action", "outcome", "op", "answer", "state", "executor-state"],
)
def test_a_word_outside_the_vocabulary_is_a_malformed_message(message: msgspec.Struct, where: str) -> None:
    data = encode(message)  # type: ignore[arg-type]
    with pytest.raises(MalformedMessage, match=r"Invalid enum value .* at `" + re.escape(where) + "`"):
        decode(data)


def test_decoded_words_are_enum_members() -> None:
    report = decode(encode(SvcReport("svc", 7, "stopped")))  # type: ignore[arg-type]
    assert isinstance(report, SvcReport) and report.outcome is Outcome.STOPPED


def test_callers_may_pass_the_plain_strings() -> None:
    c = Cluster([ServiceSpec("svc")])
    c.form({1, 2, 3})
    done = c.request(1, "relocate", target=1)
    assert done is not None and done.result == "Success" and done.ok
    manager = c.managers[1]
    manager.executor_report(c.now, "svc", 0, "status_failed", "status returned 1")  # recovery: restart in place
    c.pump()
    assert c.starts() == [3, 1, 1]


def test_a_misspelt_outcome_from_the_executor_is_refused_loudly() -> None:
    c = Cluster([ServiceSpec("svc")])
    c.form({1, 2, 3})
    with pytest.raises(ValueError, match="'stoped' is not a valid Outcome"):
        c.managers[3].executor_report(c.now, "svc", 1, "stoped", "")


def test_answers_are_rgmanagers_strings() -> None:
    assert [a.value for a in Answer] == [
        "Success",
        "Failure",
        "Service does not exist",
        "Operation requires quorum",
        "Temporary failure; try again",
        "Invalid operation for resource",
        "Service is already running",
        "Failure: Service is frozen",
        "Aborted; service failed",
        "Target node dead / nonexistent",
        "Fencing operation pending; try again later",
        "Service not runnable",
        "Service not runnable: cannot run exclusive",
    ]
