"""A `<witness>` added, removed or changed on a live cluster (and the quorum policies of `<cman>`): how the change
planner classifies and says it."""

from __future__ import annotations

from quorate.config import ClusterConfig, parse_config
from quorate.config.changes import check_successor, describe, plan_change

WITNESS = '<witness host="192.168.0.210" lease="10"/>'


def conf(version: int, *, witness: str = "", cman: str = '<cman two_node="1" expected_votes="1"/>') -> ClusterConfig:
    text = f"""<?xml version="1.0"?>
<cluster name="pair" config_version="{version}">
  {cman}
  {witness}
  <clusternodes>
    <clusternode name="n1" nodeid="1"/>
    <clusternode name="n2" nodeid="2"/>
  </clusternodes>
</cluster>
"""
    return parse_config(text, f"v{version}.conf")


def test_adding_a_witness_to_a_two_node_cluster_is_applied_live_and_two_node_yields() -> None:
    old, new = conf(1), conf(2, witness=WITNESS)
    change = plan_change(old, new)
    assert change.witness is not None and change.witness.kind == "added" and change.witness.two_node_flips
    assert not change.empty
    v = change.votes
    assert (v.expected_before, v.expected_after, v.qdisk_votes_after) == (1, 3, 1)
    assert (v.quorum_before, v.quorum_after) == (1, 2)  # two_node's 1, then a majority of the three votes
    lines = describe(change)
    assert any(line.startswith("witness: added, applied live") and "two_node now yields" in line for line in lines)
    assert check_successor(old, new) == []


def test_removing_it_warns_that_a_node_resting_on_its_vote_loses_quorum() -> None:
    old, new = conf(1, witness=WITNESS), conf(2)
    change = plan_change(old, new)
    assert change.witness is not None and change.witness.kind == "removed"
    assert "two_node applies again" in "\n".join(describe(change))
    (warning,) = check_successor(old, new)
    assert warning.severity == "warning" and warning.path == "/cluster/witness"
    assert "quorum witness removed" in warning.message


def test_changed_settings_are_listed_and_restart_the_link() -> None:
    old = conf(1, witness=WITNESS)
    new = conf(2, witness='<witness host="192.168.0.211" lease="20" tie_breaker="highest"/>')
    change = plan_change(old, new)
    assert change.witness is not None and change.witness.kind == "changed"
    assert [f.name for f in change.witness.fields] == ["host", "tie_breaker", "lease"]
    line = next(line for line in describe(change) if line.startswith("witness:"))
    assert "host 192.168.0.210 -> 192.168.0.211" in line
    assert "restarts its witness link" in line
    (warning,) = check_successor(old, new)
    assert "asks for it again with the new settings" in warning.message


def test_a_witness_moved_to_another_line_is_no_change() -> None:
    old = conf(1, witness=WITNESS)
    new = conf(2, witness="\n\n" + WITNESS)
    assert plan_change(old, new).witness is None
    assert check_successor(old, new) == []


def test_a_policy_change_is_shown_and_a_new_tie_breaker_node_is_refused_live() -> None:
    def policies(version: int, cman: str) -> ClusterConfig:
        return conf(version, cman=f"<cman {cman}/>")

    old = policies(1, 'auto_tie_breaker="1"')
    new = policies(2, 'auto_tie_breaker="1" auto_tie_breaker_node="highest"')
    change = plan_change(old, new)
    assert [(f.name, f.before, f.after) for f in change.cluster] == [("auto_tie_breaker_node", "lowest", "highest")]
    (error,) = check_successor(old, new)
    assert error.severity == "error" and error.attribute == "auto_tie_breaker_node"
    off = policies(2, 'auto_tie_breaker="0"')
    assert check_successor(old, off) == [] and not plan_change(old, off).empty
