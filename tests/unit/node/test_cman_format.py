"""cman_tool's layouts against the article's printed output (tests/golden, trailing blanks of the scan removed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from quorate.node.cman_format import format_nodes, format_status

GOLDEN = Path(__file__).parents[2] / "golden"


def article_status(**changes: Any) -> dict[str, Any]:
    """The state behind the article's `cman_tool status` on balthasar (values derived as C-4, C-5 and Q-3 say)."""
    status: dict[str, Any] = {
        "protocol_version": "6.2.0",
        "config_version": 1,
        "cluster_name": "magi",
        "cluster_id": 1571,
        "member": True,
        "generation": 2244,
        "state": "Cluster-Member",
        "node_count": 3,
        "expected_votes": 3,
        "qdisk_votes": 2,
        "total_votes": 5,
        "node_votes": 1,
        "quorum": 3,
        "quorate": True,
        "active_subsystems": 8,
        "flags": ["Dirty"],
        "ports_bound": [],
        "node_name": "balthasar.evenit.info",
        "node_id": 1,
        "multicast_addresses": ["239.192.6.41"],
        "node_addresses": ["192.168.0.201"],
        "nodes": [],
        "qdisk": None,
    }
    status.update(changes)
    return status


def test_status_matches_the_article_line_for_line() -> None:
    assert format_status(article_status()) == (GOLDEN / "cman_tool_status.txt").read_text()


def test_quorum_device_line_only_while_the_disk_votes_are_held() -> None:
    text = format_status(article_status(qdisk_votes=0, total_votes=3))
    assert "Quorum device votes" not in text
    assert "Total votes: 3\nQuorum: 3\n" in text


def test_a_node_running_another_config_shows_on_the_version_line() -> None:
    other = {"name": "casper.localdomain", "config_version": 4, "config_digest": "00ff"}
    text = format_status(article_status(config_version=3, config_mismatch=[other]))
    assert "Config Version: 3 (differs on casper.localdomain: 4)\n" in text


def test_inquorate_says_activity_blocked() -> None:
    text = format_status(article_status(quorate=False, total_votes=2, qdisk_votes=0, node_count=2))
    assert "Quorum: 3  Activity blocked\n" in text


def test_nodes_table_members_and_non_members() -> None:
    joined = time.mktime((2010, 9, 19, 22, 20, 11, 0, 0, -1))
    nodes = [
        {"nodeid": 2, "name": "casper.localdomain", "member": False, "joined_generation": 0, "joined": None},
        {"nodeid": 1, "name": "balthasar.localdomain", "member": True, "joined_generation": 2244, "joined": joined},
    ]
    text = format_nodes(article_status(nodes=nodes))
    assert text.splitlines() == [
        "Node  Sts   Inc   Joined               Name",
        "   1   M   2244   2010-09-19 22:20:11  balthasar.localdomain",
        "   2   X      0                        casper.localdomain",
    ]


def test_nodes_filter_by_short_name() -> None:
    nodes = [
        {"nodeid": 1, "name": "balthasar.localdomain", "member": False, "joined_generation": 0, "joined": None},
        {"nodeid": 2, "name": "casper.localdomain", "member": False, "joined_generation": 0, "joined": None},
    ]
    lines = format_nodes(article_status(nodes=nodes), only="casper").splitlines()
    assert len(lines) == 2 and lines[1].endswith("casper.localdomain")


def test_clustat_layout_and_xml() -> None:
    from xml.etree import ElementTree

    from quorate.node.cman_format import format_clustat

    nodes = [
        {"nodeid": 1, "name": "balthasar.localdomain", "member": True, "local": True},
        {"nodeid": 2, "name": "casper.localdomain", "member": True, "local": False},
        {"nodeid": 3, "name": "melchior.localdomain", "member": False, "local": False},
    ]
    services = [
        {"name": "test", "state": "stopped", "owner": "", "last_owner": "", "restarts": 0, "frozen": False},
    ]
    s = article_status(nodes=nodes, services=services, rgmanager=True, coordinator=1, qdisk=None, members=[1, 2])
    code, _, text = format_clustat(s).partition("\n")
    lines = text.splitlines()
    assert code == "0" and lines[1] == "Member Status: Quorate"
    assert lines[3:8] == [
        " Member Name                             ID   Status",
        " ------ ----                             ---- ------",
        " balthasar.localdomain                      1 Online, Local, rgmanager",
        " casper.localdomain                         2 Online, rgmanager",
        " melchior.localdomain                       3 Offline",
    ]
    assert lines[-1] == " service:test                   (none)                         stopped"
    code, _, xml = format_clustat(s, {"xml": True}).partition("\n")
    root = ElementTree.fromstring(xml)
    assert root.tag == "clustat" and root.find("cluster").get("name") == "magi"  # type: ignore[union-attr]
    group = root.find("groups/group")
    assert group is not None and group.get("name") == "service:test" and group.get("state") == "110"
    assert [n.get("nodeid") for n in root.iter("node")] == ["0x00000001", "0x00000002", "0x00000003"]


def test_clock_skew_line_only_while_a_peer_is_off_by_more_than_the_threshold() -> None:
    near = {"nodeid": 2, "name": "casper.localdomain", "offset": 0.004, "delay": 0.0003, "samples": 8}
    far = {"nodeid": 3, "name": "melchior.localdomain", "offset": 5.0123, "delay": 0.0004, "samples": 8}
    calm = format_status(article_status(clock_offsets=[near], clock_warn_above=1.0))
    assert calm == (GOLDEN / "cman_tool_status.txt").read_text()  # the article's layout, unchanged
    skewed = format_status(article_status(clock_offsets=[near, far], clock_warn_above=1.0))
    assert skewed == calm + "Clock skew: melchior.localdomain +5.012 s\n"
    assert format_status(article_status(clock_offsets=[near, far], clock_warn_above=10.0)) == calm
