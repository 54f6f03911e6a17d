"""`quorate why`'s sentences, table-driven over a ledger and a fencing state built by hand (no sockets)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from quorate.core.explain import UnknownName, explain_node, explain_quorum, explain_service
from quorate.core.fencing import Fencing, FencingConfig, HistoryEntry, Phase, Victim
from quorate.core.membership_types import MembershipStatus, NodeStatus
from quorate.core.messages import ViewId
from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.core.quorum import QuorumResult
from quorate.core.service_records import Record, ServiceLedger
from quorate.core.service_vocabulary import St

NAMES = {1: "balthasar.localdomain", 2: "casper.localdomain", 3: "melchior.localdomain"}
RING = DomainSpec("ring01", ordered=True, restricted=False, nofailback=False, priorities={1: 1, 2: 2, 3: 3})
PAIR = DomainSpec("pair", ordered=False, restricted=True, nofailback=False, priorities={1: 0, 2: 0})
STICKY = DomainSpec("sticky", ordered=True, restricted=False, nofailback=True, priorities={1: 1, 2: 2, 3: 3})
METHODS = {2: [("single", "fence_netns")]}


@dataclass
class Case:
    spec: ServiceSpec
    members: frozenset[int]
    record: dict[str, object]
    expected: str
    others: dict[str, dict[str, object]] = field(default_factory=dict)
    victim: Phase | None = None
    gone: frozenset[int] = frozenset()


def ledger_for(case: Case) -> tuple[ServiceLedger, Fencing]:
    specs = {"test": case.spec} | {n: ServiceSpec(n, exclusive=False) for n in case.others}
    fencing = Fencing(FencingConfig(NAMES), 1)
    ledger = ServiceLedger(specs, NAMES, 1, safely_gone=lambda n: n in case.gone)
    ledger.members = case.members
    ledger.records["test"] = Record("test", **case.record)  # type: ignore[arg-type]
    for name, fields in case.others.items():
        ledger.records[name] = Record(name, **fields)  # type: ignore[arg-type]
    if case.victim is not None:
        fencing.victims[2] = Victim(2, 1, 1, "left", 0.0, phase=case.victim, attempts=1)
    return ledger, fencing


CASES = {
    "running first of ordered domain": Case(
        ServiceSpec("test", domain=RING), frozenset({1, 2, 3}), {"state": St.STARTED, "owner": 1},
        "test runs on balthasar.localdomain: first of the ordered domain ring01 (priority 1) among the members up",
    ),
    "running lower priority, preferred node down: would fail back": Case(
        ServiceSpec("test", domain=RING), frozenset({2, 3}), {"state": St.STARTED, "owner": 2},
        "test runs on casper.localdomain: first of the ordered domain ring01 (priority 2) among the members up; "
        "it would move to balthasar.localdomain if balthasar.localdomain came back",
    ),
    "nofailback keeps it": Case(
        ServiceSpec("test", domain=STICKY), frozenset({1, 2, 3}), {"state": St.STARTED, "owner": 2},
        "test runs on casper.localdomain: priority 2 in the ordered domain sticky; balthasar.localdomain is "
        "preferred and up, but nofailback is set: it stays",
    ),
    "stopped, added at run time": Case(
        ServiceSpec("test"), frozenset({1, 2}), {"state": St.STOPPED, "enabled": True, "held": True,
                                                  "reason": "added by a configuration change: stopped"},
        "test is stopped: added at run time, it waits for `clusvcadm -e test`",
    ),
    "disabled by the administrator": Case(
        ServiceSpec("test"), frozenset({1, 2}), {"state": St.DISABLED, "touched": True, "enabled": False},
        "test is disabled by the administrator: it waits for `clusvcadm -e test`",
    ),
    "disabled, autostart off": Case(
        ServiceSpec("test", autostart=False), frozenset({1, 2}), {"state": St.DISABLED, "enabled": False},
        "test is disabled: autostart is off, it waits for `clusvcadm -e test`",
    ),
    "frozen": Case(
        ServiceSpec("test"), frozenset({1, 2}), {"state": St.STARTED, "owner": 2, "frozen": True},
        "test is frozen: the coordinator does not act on it (it is started on casper.localdomain)",
    ),
    "awaiting fence, running": Case(
        ServiceSpec("test"), frozenset({1, 3}), {"state": St.STARTED, "owner": 2},
        "test waits for casper.localdomain to be fenced: its fence method `single` (fence_netns) is running "
        "(attempt 2)",
        victim=Phase.FENCING,
    ),
    "awaiting fence, manual": Case(
        ServiceSpec("test"), frozenset({1, 3}), {"state": St.STARTED, "owner": 2},
        "test waits for casper.localdomain to be fenced: it needs `fence_ack_manual casper.localdomain`",
        victim=Phase.MANUAL,
    ),
    "owner gone but fenced: not waiting": Case(
        ServiceSpec("test", domain=PAIR), frozenset({1}), {"state": St.STARTED, "owner": 1, "last_owner": 2},
        "test runs on balthasar.localdomain: a member of the domain pair",
        gone=frozenset({2}),
    ),
    "start failed everywhere": Case(
        ServiceSpec("test", domain=PAIR), frozenset({1, 2, 3}),
        {"state": St.STOPPED, "held": True, "reason": "no online node is allowed by its failover domain; its start "
                                                    "failed on balthasar.localdomain, casper.localdomain"},
        "test is stopped: its start failed on balthasar.localdomain and casper.localdomain, the nodes its "
        "restricted domain allows; it waits for `clusvcadm -e test` or a membership change",
    ),
    "held stopped by clusvcadm -s": Case(
        ServiceSpec("test"), frozenset({1, 2}), {"state": St.STOPPED, "held": True,
                                                  "reason": "stopped on casper.localdomain"},
        "test is stopped by the administrator (stopped on casper.localdomain): it stays stopped until "
        "`clusvcadm -e test` or a membership change",
    ),
    "stopped, placement would start it": Case(
        ServiceSpec("test", domain=RING), frozenset({2, 3}), {"state": St.STOPPED},
        "test is stopped; placement would start it on casper.localdomain: best node by failover domain (BEST)",
    ),
    "restricted domain with no member up": Case(
        ServiceSpec("test", domain=PAIR), frozenset({3}), {"state": St.STOPPED},
        "test is stopped: no member of its restricted domain pair (balthasar.localdomain and casper.localdomain) "
        "is up",
    ),
    "exclusive, every node busy": Case(
        ServiceSpec("test", exclusive=True, domain=PAIR), frozenset({1, 2, 3}), {"state": St.STOPPED},
        "test is stopped: it is exclusive and every node it may use (balthasar.localdomain and casper.localdomain) "
        "runs other services",
        others={"a": {"state": St.STARTED, "owner": 1}, "b": {"state": St.STARTED, "owner": 2}},
    ),
    "exclusive, running": Case(
        ServiceSpec("test", exclusive=True), frozenset({1, 2}), {"state": St.STARTED, "owner": 2},
        "test runs on casper.localdomain: it has no failover domain, so any member may run it "
        "(exclusive: no other service runs beside it)",
    ),
    "not quorate": Case(
        ServiceSpec("test"), frozenset(), {"state": St.STARTED, "owner": 1},
        "test is not managed here: this node is not in a quorate view, so no coordinator acts on it",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_service_sentence(case: Case) -> None:
    ledger, fencing = ledger_for(case)
    result = explain_service(ledger, fencing, "service:test", fence_methods=METHODS)
    assert result.sentence == case.expected
    assert result.facts["service"] == "test"
    assert result.facts["state"] == str(case.record["state"])


def test_service_facts_name_the_nodes_and_the_domain() -> None:
    ledger, fencing = ledger_for(CASES["running first of ordered domain"])
    facts = explain_service(ledger, fencing, "test").facts
    assert facts["owner"] == "balthasar.localdomain"
    assert facts["domain"] == {"name": "ring01", "ordered": True, "restricted": False, "nofailback": False,
                               "priorities": {"balthasar.localdomain": 1, "casper.localdomain": 2,
                                              "melchior.localdomain": 3}}  # fmt: skip
    assert facts["score"] == {"balthasar.localdomain": "BEST", "casper.localdomain": "BETTER",
                              "melchior.localdomain": "BETTER"}  # fmt: skip


def test_awaiting_fence_facts_carry_the_fence_state() -> None:
    ledger, fencing = ledger_for(CASES["awaiting fence, running"])
    facts = explain_service(ledger, fencing, "test", fence_methods=METHODS).facts
    assert facts["awaiting_fence"] == "casper.localdomain"
    assert facts["fence"] == {"state": "fencing", "attempts": 1, "detail": "", "reason": "left"}


def test_unknown_service_lists_the_valid_ones() -> None:
    ledger, fencing = ledger_for(CASES["frozen"])
    with pytest.raises(UnknownName, match=r"unknown service 'tset' \(services: test\)"):
        explain_service(ledger, fencing, "tset")


def node(nodeid: int, member: bool, age: float | None = None, joined: int = 4) -> NodeStatus:
    return NodeStatus(nodeid, NAMES[nodeid], 1, member, member, 1, joined, 0.0, age, None)


def membership(
    members: tuple[int, ...], quorum: QuorumResult, ages: dict[int, float] | None = None
) -> MembershipStatus:
    ages = ages or {}
    nodes = tuple(node(n, n in members, ages.get(n)) for n in NAMES)
    return MembershipStatus(1, "Cluster-Member", ViewId(4, 1), members, 1, quorum, nodes, False, 1, quorum.reason)


def clock(t: float) -> str:
    return f"12:03:{t:02.0f}"


def test_quorate_sentence_counts_every_vote() -> None:
    status = membership((1, 2, 3), QuorumResult(3, 3, 2, True, "3 votes"))
    result = explain_quorum(status, qdisk_votes=0)
    assert result.sentence == ("quorate: 3 votes of 3 expected, quorum 2 "
                               "(balthasar 1, casper 1, melchior 1, quorum disk 0)")  # fmt: skip
    assert result.facts["absent"] == []


def test_a_single_vote_is_singular() -> None:
    status = MembershipStatus(1, "Cluster-Member", ViewId(1, 1), (1,), 1, QuorumResult(1, 1, 1, True, ""),
                              (node(1, True),), False, 1, "")  # fmt: skip
    assert explain_quorum(status).sentence == "quorate: 1 vote of 1 expected, quorum 1 (balthasar 1, quorum disk 0)"


def test_not_quorate_sentence_names_who_is_missing_and_since_when() -> None:
    status = membership((1,), QuorumResult(3, 1, 2, False, "1 vote"), ages={2: 10.0, 3: 6.0})
    result = explain_quorum(status, now=14.0, when=clock)
    assert result.sentence == "not quorate: 1 vote, quorum needs 2; casper and melchior are not heard since 12:03:08"
    assert result.facts["absent"] == ["casper.localdomain", "melchior.localdomain"]


def fencing_now(*, victim: Phase | None = None, fenced: bool = False, clean: bool = False) -> Fencing:
    fencing = Fencing(FencingConfig(NAMES), 1)
    fencing.coordinator_id = 1
    if victim is not None:
        fencing.victims[2] = Victim(2, 1, 1, "left", 0.0, phase=victim, attempts=1)
    if fenced:
        fencing.history.append(HistoryEntry(2, NAMES[2], 9.0, True, "single", 1, "ok", 1.0))
    if clean:
        fencing.left_clean.add(2)
    return fencing


NODE_CASES = {
    "member": ((1, 2, 3), {}, "casper.localdomain is a member since view 4"),
    "being fenced": ((1, 3), {"victim": Phase.FENCING},
                     "casper.localdomain left at 12:03:04 and is being fenced by balthasar.localdomain with method "
                     "single (attempt 2)"),
    "manual": ((1, 3), {"victim": Phase.MANUAL},
               "casper.localdomain left at 12:03:04 and needs `fence_ack_manual casper.localdomain`"),
    "fenced": ((1, 3), {"fenced": True},
               "casper.localdomain left at 12:03:04; it was fenced at 12:03:09 by balthasar.localdomain (single)"),
    "left cleanly": ((1, 3), {"clean": True}, "casper.localdomain left at 12:03:04 cleanly: no fence is needed"),
}  # fmt: skip


@pytest.mark.parametrize(("members", "setup", "expected"), NODE_CASES.values(), ids=NODE_CASES.keys())
def test_node_sentence(members: tuple[int, ...], setup: dict[str, object], expected: str) -> None:
    status = membership(members, QuorumResult(3, len(members), 2, True, ""), ages={2: 10.0})
    fencing = fencing_now(**setup)  # type: ignore[arg-type]
    result = explain_node(status, fencing, 2, fence_methods=METHODS, when=clock, now=14.0)
    assert result.sentence == expected
    assert result.facts["member"] == (2 in members)


def test_unknown_node_lists_the_valid_ones() -> None:
    status = membership((1,), QuorumResult(3, 1, 2, False, ""))
    with pytest.raises(UnknownName, match=r"nodes: balthasar\.localdomain, casper\.localdomain, melchior"):
        explain_node(status, fencing_now(), 9)


def test_a_policy_that_decided_quorum_is_named() -> None:
    tie = "auto_tie_breaker: exactly half of 2 votes, with tie-breaker node 1"
    status = membership((1,), QuorumResult(2, 1, 2, True, f"quorate by {tie}: 1 votes", tie))
    result = explain_quorum(status, qdisk_votes=0)
    assert result.sentence.endswith(f"(balthasar 1, quorum disk 0); {tie}")
    assert result.facts["policy"] == tie
    refused = "last man standing: 1 of the 3 votes of nodes [1, 2, 3] are present"
    status = membership((1, 4, 5), QuorumResult(5, 3, 3, False, "not quorate", refused))
    assert explain_quorum(status).sentence.startswith(f"not quorate: 3 votes, quorum needs 3; {refused}")
