"""The quorum policies as `quorate status --json` and `cman_tool status` show them (Q-13..Q-15)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from quorate.core.quorum import QuorumResult
from quorate.core.quorum_policies import QuorumPolicies, Reference
from quorate.node.cman_format import format_status
from quorate.node.status import _policies


def fake_daemon(policies: QuorumPolicies, reference: Reference, quorum: QuorumResult) -> Any:
    membership = SimpleNamespace(reference=reference, quorum=quorum)
    return SimpleNamespace(
        config=SimpleNamespace(quorum_policies=policies), core=SimpleNamespace(membership=membership)
    )


def test_no_policy_no_object() -> None:
    daemon = fake_daemon(QuorumPolicies(), Reference(frozenset({1}), {1: 1}), QuorumResult(1, 1, 1, True, ""))
    assert _policies(daemon) is None


def test_the_json_says_which_policy_decided_and_against_which_nodes() -> None:
    policies = QuorumPolicies(last_man_standing=True, lms_window=12.0, auto_tie_breaker=True, tie_breaker=(3, 1))
    tie = "auto_tie_breaker: exactly half of 2 votes, with tie-breaker node 1"
    daemon = fake_daemon(
        policies,
        Reference(frozenset({1, 2}), {1: 1, 2: 1}),
        QuorumResult(2, 1, 2, True, f"quorate by {tie}: 1 votes", tie),
    )
    assert _policies(daemon) == {
        "last_man_standing": True,
        "last_man_standing_window_ms": 12000,
        "auto_tie_breaker": True,
        "auto_tie_breaker_node": "3 1",
        "reference_nodes": [1, 2],
        "reference_votes": 2,
        "reference_committed": True,
        "decided_by": tie,
    }


def test_cman_tool_status_flags_name_the_policies() -> None:
    flags = ["Dirty", *QuorumPolicies(last_man_standing=True, auto_tie_breaker=True).flags()]
    status = {
        "protocol_version": "6.2.0",
        "config_version": 1,
        "cluster_name": "magi",
        "cluster_id": 1571,
        "member": True,
        "generation": 7,
        "state": "Cluster-Member",
        "node_count": 2,
        "expected_votes": 2,
        "qdisk_votes": 0,
        "total_votes": 2,
        "node_votes": 1,
        "quorum": 2,
        "quorate": True,
        "active_subsystems": 8,
        "flags": flags,
        "ports_bound": [],
        "node_name": "balthasar.localdomain",
        "node_id": 1,
        "multicast_addresses": ["239.192.6.41"],
        "node_addresses": ["192.168.0.201"],
        "nodes": [],
        "qdisk": None,
    }
    assert "\nFlags: Dirty LastManStanding AutoTieBreaker\n" in format_status(status)
