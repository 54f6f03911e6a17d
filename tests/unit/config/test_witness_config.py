"""<witness>: read into the model and the node core's settings, and refused with located errors when wrong."""

from __future__ import annotations

import pytest

from quorate.config import ConfigError, parse_config
from quorate.config.to_core import node_settings
from quorate.core.witness_protocol import Algorithm


def conf(witness: str, *, nodes: int = 2, cman: str = "", extra: str = "") -> str:
    members = "\n".join(f'    <clusternode name="n{i}" nodeid="{i}"/>' for i in range(1, nodes + 1))
    return f"""<?xml version="1.0"?>
<cluster name="pair" config_version="3">
  {cman}
  {witness}
  {extra}
  <clusternodes>
{members}
  </clusternodes>
</cluster>
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cluster.conf")
    return [str(p) for p in info.value.errors]


def test_a_witness_reaches_the_node_core_and_counts_in_the_expected_votes() -> None:
    text = conf('<witness host="192.168.0.210" port="5406" algorithm="ffsplit" tie_breaker="highest" lease="12"/>')
    cfg = parse_config(text, "cluster.conf")
    assert cfg.witness is not None and cfg.witness.line == 4
    settings = node_settings(cfg, 1)
    w = settings.witness
    assert w is not None
    assert (w.host, w.port, w.votes, w.algorithm, w.tie_breaker, w.lease) == (
        "192.168.0.210",
        5406,
        1,
        Algorithm.FFSPLIT,
        "highest",
        12.0,
    )
    assert settings.membership.expected_votes == 3  # two nodes and the witness: a half needs the witness
    assert (settings.cluster_name, settings.cluster_id) == ("pair", cfg.cluster_id)


def test_lms_lends_one_vote_less_than_the_nodes() -> None:
    cfg = parse_config(conf('<witness host="w" algorithm="lms"/>', nodes=4), "cluster.conf")
    settings = node_settings(cfg, 1)
    assert settings.witness is not None and settings.witness.votes == 3
    assert settings.membership.expected_votes == 7


def test_two_node_with_a_witness_lets_the_witness_break_ties() -> None:
    text = conf('<witness host="w"/>', cman='<cman two_node="1" expected_votes="1"/>')
    cfg = parse_config(text, "cluster.conf")
    settings = node_settings(cfg, 1)
    assert not settings.membership.two_node and not settings.fencing.two_node
    assert settings.membership.expected_votes == 3
    assert any("witness breaks ties" in str(p) for p in cfg.warnings)


def test_without_a_witness_two_node_is_unchanged() -> None:
    cfg = parse_config(conf("", cman='<cman two_node="1" expected_votes="1"/>'), "cluster.conf")
    settings = node_settings(cfg, 1)
    assert settings.membership.two_node and settings.fencing.two_node and settings.witness is None
    assert settings.membership.expected_votes == 1


def test_a_witness_next_to_a_quorum_disk_is_refused_where_it_stands() -> None:
    found = errors(conf('<witness host="w"/>', extra='<quorumd label="qdisk"/>'))
    assert any(e.startswith("cluster.conf:4: /cluster/witness") and "(<quorumd> on line 5)" in e for e in found), found


@pytest.mark.parametrize(
    ("witness", "words"),
    [
        ('<witness host="w" tie_breaker="middle"/>', "tie_breaker 'middle'"),
        ('<witness host="w" tie_breaker="9"/>', "tie_breaker 9 is not the nodeid"),
        ('<witness host="w" votes="2"/>', "votes 2 with algorithm ffsplit"),
        ('<witness host="w" lease="0.5"/>', "lease 0.5 s is outside"),
        ('<witness host="w" lease="4"/>', "shorter than the token"),
        ('<witness host="w" algorithm="quorum"/>', "algorithm"),
        ('<witness host="w" port="70000"/>', "port"),
        ('<witness port="5406"/>', "host"),
    ],
)
def test_bad_witness_settings_are_located_errors(witness: str, words: str) -> None:
    found = errors(conf(witness))
    assert any(e.startswith("cluster.conf:4: /cluster/witness") and words in e for e in found), found
