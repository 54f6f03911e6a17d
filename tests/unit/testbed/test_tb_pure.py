"""The testbed's pure parts: conf reading, naming, rule scripts, state files (no root needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quorate.testbed import faults
from quorate.testbed.conf import (
    IFNAME_MAX,
    NodeSpec,
    TestbedError,
    UnknownNodeError,
    check_prefix,
    hosts_file,
    read_nodes,
    resolve,
)
from quorate.testbed.holder import _unescape
from quorate.testbed.state import BedState, NodeState
from quorate.testbed.support import MAGI, unique_prefix, write_cluster_conf


def test_reads_nodes_ordered_by_nodeid(tmp_path: Path) -> None:
    conf = write_cluster_conf(tmp_path / "c.conf", ["z.example", "a.example"])
    conf.write_text(conf.read_text().replace('nodeid="1"', 'nodeid="9"'))
    specs = read_nodes(conf)
    assert [(s.name, s.nodeid) for s in specs] == [("a.example", 2), ("z.example", 9)]
    assert specs[0].address == "192.168.0.202"
    assert specs[0].short == "a"


@pytest.mark.parametrize(
    "body, message",
    [
        ('<clusternode name="a" />', "numeric nodeid"),
        ('<clusternode name="a" nodeid="1"/><clusternode name="a.x" nodeid="2"/>', "used twice"),
        ('<clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="1"/>', "used twice"),
        ('<clusternode name="a" nodeid="99"/>', "must be 1.."),
        ('<clusternode name="sw" nodeid="1"/>', "reserved"),
        ("", "no clusternode"),
    ],
)
def test_rejects_confs_that_cannot_be_hosts(tmp_path: Path, body: str, message: str) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(f'<cluster name="x" config_version="1"><clusternodes>{body}</clusternodes></cluster>')
    with pytest.raises(TestbedError, match=message):
        read_nodes(conf)


def test_non_breaking_spaces_from_web_pages_are_tolerated(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    nbsp = "\u00a0"
    text = f'<?xml{nbsp}version="1.0"?>\n<cluster{nbsp}name="x">\n{nbsp}<clusternode{nbsp}name="a.b" nodeid="1"/>'
    text += "</cluster>"
    conf.write_text(text, encoding="utf-8")
    assert read_nodes(conf) == [NodeSpec("a.b", 1)]


def test_unreadable_conf_is_a_testbed_error(tmp_path: Path) -> None:
    (tmp_path / "bad.conf").write_text("<cluster")
    with pytest.raises(TestbedError, match="cannot read"):
        read_nodes(tmp_path / "bad.conf")
    with pytest.raises(TestbedError, match="cannot read"):
        read_nodes(tmp_path / "missing.conf")


def test_interface_names_fit_and_are_unique() -> None:
    specs = [NodeSpec(f"averyveryverylongname{i}.example.com", i) for i in range(1, 55)]
    names = [spec.veth() for spec in specs]
    assert all(len(name) <= IFNAME_MAX for name in names)
    assert len(set(names)) == len(names)


def test_resolve_accepts_short_names_and_lists_known_ones() -> None:
    specs = [NodeSpec(name, i) for i, name in enumerate(MAGI, start=1)]
    assert resolve(specs, "casper").name == "casper.localdomain"
    assert resolve(specs, "melchior.localdomain").nodeid == 3
    with pytest.raises(UnknownNodeError, match=r"balthasar\.localdomain, casper"):
        resolve(specs, "gaspar")


def test_hosts_file_lists_full_and_short_names() -> None:
    text = hosts_file([NodeSpec(name, i) for i, name in enumerate(MAGI, start=1)])
    assert "192.168.0.201\tbalthasar.localdomain balthasar\n" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")


@pytest.mark.parametrize("prefix", ["", "q-t", "QT", "1qt", "qtqtqtqtqtqtq"])
def test_prefixes_that_could_collide_are_refused(prefix: str) -> None:
    with pytest.raises(TestbedError):
        check_prefix(prefix)


def test_unique_prefixes_are_valid_and_distinct() -> None:
    prefixes = [unique_prefix() for _ in range(30)]
    assert len(set(prefixes)) == 30
    assert all(re.match(r"^qt\d{1,3}[a-z]+$", p) and check_prefix(p) for p in prefixes)


def test_partition_drops_cover_both_directions_and_lone_nodes() -> None:
    a, b, c = (NodeSpec(name, i) for i, name in enumerate(MAGI, start=1))
    drops = faults.partition_drops([a, b, c], [[a, b]])
    assert drops == {a.name: [c.address], b.name: [c.address], c.name: [a.address, b.address]}
    alone = faults.partition_drops([a, b, c], [])
    assert alone[a.name] == [b.address, c.address]
    with pytest.raises(TestbedError, match="two partition groups"):
        faults.partition_drops([a, b, c], [[a], [a, b]])


def test_rule_scripts() -> None:
    assert "ip saddr { 192.168.0.201, 192.168.0.202 } counter drop" in faults.drop_from_script(
        ["192.168.0.202", "192.168.0.201"]
    )
    assert faults.drop_from_script([]) == ""
    assert "numgen random mod 100 < 30 counter drop" in faults.loss_script(30)
    assert faults.loss_script(0) == ""
    assert "numgen" not in faults.loss_script(100) and faults.loss_script(100).endswith("counter drop\n")
    with pytest.raises(TestbedError):
        faults.loss_script(101)
    assert faults.heal_script().splitlines()[-1] == "delete table inet quorate_testbed"


def test_state_round_trips_through_json() -> None:
    node = NodeState("a.x", 1, "a", "192.168.0.201", "qt-a", "v1-a", "/run/x/a.x", True, 10, 9, 12, 11)
    state = BedState("qt", "/run/x", "qt-sw", "/c", "/k", ["py"], ["-v"], 1, [node], [{"loss": ["a.x", 5]}])
    assert BedState.from_json(state.to_json()) == state


def test_mountinfo_unescaping() -> None:
    assert _unescape(r"/run/with\040space") == "/run/with space"
    assert _unescape("/plain") == "/plain"
