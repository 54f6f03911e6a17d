"""<cman last_man_standing auto_tie_breaker>: read into the node core's settings, refused with located errors when
wrong or combined with what they contradict (Q-13..Q-15)."""

from __future__ import annotations

import pytest

from quorate.config import ConfigError, parse_config
from quorate.config.to_core import node_settings
from quorate.core.quorum_policies import QuorumPolicies


def conf(cman: str, *, nodes: int = 4, extra: str = "") -> str:
    members = "\n".join(f'    <clusternode name="n{i}" nodeid="{i}"/>' for i in range(1, nodes + 1))
    return f"""<?xml version="1.0"?>
<cluster name="magi" config_version="3">
  <cman {cman}/>
  <clusternodes>
{members}
  </clusternodes>
  {extra}
</cluster>
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cluster.conf")
    return [str(p) for p in info.value.errors]


@pytest.mark.parametrize(
    ("cman", "policies"),
    [
        ("", QuorumPolicies()),
        ('last_man_standing="1" wait_for_all="1"', QuorumPolicies(last_man_standing=True, lms_window=10.0)),
        (
            'last_man_standing="1" last_man_standing_window="20000" wait_for_all="1"',
            QuorumPolicies(last_man_standing=True, lms_window=20.0),
        ),
        ('auto_tie_breaker="1"', QuorumPolicies(auto_tie_breaker=True)),
        (
            'auto_tie_breaker="1" auto_tie_breaker_node="highest"',
            QuorumPolicies(auto_tie_breaker=True, tie_breaker="highest"),
        ),
        ('auto_tie_breaker="1" auto_tie_breaker_node="3 1"', QuorumPolicies(auto_tie_breaker=True, tie_breaker=(3, 1))),
    ],
)
def test_the_policies_reach_the_node_core(cman: str, policies: QuorumPolicies) -> None:
    settings = node_settings(parse_config(conf(cman), "cluster.conf"), 1)
    assert settings.membership.policies == policies


@pytest.mark.parametrize(
    ("cman", "extra", "message"),
    [
        ('last_man_standing="1"', "", "cman[@last_man_standing]: last_man_standing needs wait_for_all"),
        (
            'last_man_standing="1" wait_for_all="1" last_man_standing_window="2000"',
            "",
            "last_man_standing_window 2000 ms is shorter than the token (10000 ms)",
        ),
        ('auto_tie_breaker="1" auto_tie_breaker_node="1 7"', "", "auto_tie_breaker_node names 7, not the nodeid"),
        ('auto_tie_breaker="1" auto_tie_breaker_node="first"', "", "is neither 'lowest', 'highest' nor node ids"),
        (
            'auto_tie_breaker="1"',
            '<quorumd interval="1" tko="10" votes="3" label="magi_qdisk"/>',
            "auto_tie_breaker is set together with a quorum disk (<quorumd> on line 10)",
        ),
        (
            'last_man_standing="1" wait_for_all="1"',
            '<witness host="192.168.0.210"/>',
            "last_man_standing is set together with a quorum witness (<witness> on line 10)",
        ),
        (
            'auto_tie_breaker="1"',
            '<witness host="192.168.0.210"/>',
            "auto_tie_breaker is set together with a quorum witness",
        ),
    ],
)
def test_refused_with_the_line_and_attribute(cman: str, extra: str, message: str) -> None:
    found = errors(conf(cman, extra=extra))
    assert any(message in e and "cluster.conf:3" in e for e in found), found


@pytest.mark.parametrize("policy", ["last_man_standing", "auto_tie_breaker"])
def test_two_node_contradicts_either_policy(policy: str) -> None:
    found = errors(conf(f'two_node="1" expected_votes="1" wait_for_all="1" {policy}="1"', nodes=2))
    assert any(f"{policy} and two_node are both set" in e and "cluster.conf:3" in e for e in found), found


def test_the_witness_hint_points_to_its_own_last_man_standing() -> None:
    found = errors(conf('last_man_standing="1" wait_for_all="1"', extra='<witness host="192.168.0.210"/>'))
    assert any('algorithm="lms"' in e for e in found), found


@pytest.mark.parametrize(
    ("cman", "warning"),
    [
        ('last_man_standing_window="20000"', "last_man_standing_window does nothing without last_man_standing"),
        ('auto_tie_breaker_node="2"', "auto_tie_breaker_node does nothing without auto_tie_breaker"),
        ('auto_tie_breaker="yes"', "auto_tie_breaker='yes' is not a number and is read as off"),
    ],
)
def test_a_setting_without_its_policy_is_a_warning(cman: str, warning: str) -> None:
    cfg = parse_config(conf(cman), "cluster.conf")
    assert any(warning in p.message and p.line == 3 for p in cfg.warnings)
