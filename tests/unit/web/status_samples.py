"""A status document in the real schema (the article's cluster seen from balthasar), for tests of what reads it:
the web console's fake daemon and the command line's quick entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from quorate.node.status import StatusDoc

ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "article" / "cluster-2.conf"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"


def node(nodeid: int, name: str, member: bool = True, local: bool = False) -> dict[str, Any]:
    return {
        "nodeid": nodeid, "name": name, "votes": 1, "member": member, "heard": member, "local": local,
        "incarnation": 1, "joined_generation": 1, "joined": 0.0, "last_heard_age": 0.2, "refused": None,
        "address": f"192.168.0.{200 + nodeid}",
    }  # fmt: skip


def status_doc() -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "0.2.0", "protocol_version": "6.2.0", "cluster_name": "magi", "cluster_id": 1, "config_version": 3,
        "config_digest": "ab", "config_mismatch": [], "config_distribution": {}, "config_file": str(ARTICLE),
        "member": True, "state": "Cluster-Member", "generation": 4, "coordinator": 1, "members": [1, 2, 3],
        "node_count": 3, "expected_votes": 5, "total_votes": 5, "quorum": 3, "quorate": True,
        "quorum_reason": "5 votes of 5 expected, 3 needed", "qdisk_votes": 2,
        "qdisk": {"registered": True, "online": True, "name": "/dev/loop7", "master": 1, "score": 1},
        "node_votes": 1, "active_subsystems": 3, "subsystems": [], "flags": [], "ports_bound": [],
        "node_name": B, "node_id": 1, "multicast_addresses": [], "multicast_in_use": None, "node_addresses": [],
        "incarnation": 1, "dirty": False, "reason": "", "nodes": [node(1, B, local=True), node(2, C), node(3, M)],
        "token_ms": 10000,
        "transport": {"accepted": 1, "sent": 1, "dropped": {}, "undecodable": 0, "send_errors": {}},
        "fencing": {"coordinator": 1, "fencing_here": True, "victims": [], "history": []},
        "rgmanager": True,
        "services": [{"name": "test", "state": "started", "owner": B, "last_owner": "", "restarts": 0,
                      "frozen": False, "reason": "started on its domain's first member"}],
        "local_services": {}, "started": 0.0, "log": [],
    }  # fmt: skip
    msgspec.convert(doc, StatusDoc)  # the fake daemon speaks the real schema
    return doc
