"""Files that load, but with warnings or "ignored" notices the administrator should see."""

from __future__ import annotations

import pytest
from config_samples import mutate

from quorate.config import parse_config

WARNINGS = [
    (
        "deprecated-option",
        (('name="ipmi" port="1"', 'name="ipmi" port="1" option="off"'),),
        9,
        "option",
        "deprecated name of 'action'",
    ),
    (
        "attribute-at-both-levels",
        (('name="ipmi" port="1"', 'name="ipmi" port="1" login="root"'),),
        9,
        "login",
        "fencedevice's value wins",
    ),
    ("unknown-recovery", (('recovery="relocate"', 'recovery="migrate"'),), 42, "recovery", "behaves like 'restart'"),
    (
        "boolean-word",
        (('<cman expected_votes="3"/>', '<cman expected_votes="3" wait_for_all="yes"/>'),),
        3,
        "wait_for_all",
        "read as off",
    ),
    ("nbsp-in-value", (('login="admin"', 'login="admin\u00a0"'),), 29, "login", "non-breaking space"),
    (
        "link-local-multicast",
        (('<cman expected_votes="3"/>', '<cman expected_votes="3"><multicast addr="224.0.0.9"/></cman>'),),
        3,
        "addr",
        "224.0.0.0/24",
    ),
    ("token-range", (('token="21000"', 'token="2000"'),), 4, "token", "5000-300000"),
    ("ref-with-attributes", (('<script ref="app"/>', '<script ref="app" file="/x"/>'),), 44, "file", "not applied"),
    (
        "depend-without-prefix",
        (("    </service>", '    </service>\n    <service name="b" depend="web"/>'),),
        47,
        "depend",
        "'service:web'",
    ),
    # A RHEL 4 node without nodeid loads (cman numbered such nodes itself); ids 1 and 3 are taken, so it gets 2.
    ("nodeid-missing", ((' nodeid="2"', ""),), 13, "nodeid", "has no nodeid; quorate gives it id 2"),
    ("expected-too-low", (('expected_votes="3"', 'expected_votes="1"'),), 3, "expected_votes", "both become quorate"),
    (
        "qdisk-two-node",
        (
            ('<cman expected_votes="3"/>', '<cman two_node="1" expected_votes="1"/><quorumd label="q"/>'),
            ('    <clusternode name="melchior.localdomain" nodeid="3">', "<!--"),
            ("    </clusternode>\n  </clusternodes>", "-->\n  </clusternodes>"),
        ),
        3,
        "two_node",
        "quorum disk",
    ),
]


@pytest.mark.parametrize(
    ("edits", "line", "attribute", "text"), [w[1:] for w in WARNINGS], ids=[w[0] for w in WARNINGS]
)
def test_loads_with_a_located_warning(edits: tuple[tuple[str, str], ...], line: int, attribute: str, text: str) -> None:
    cfg = parse_config(mutate(*edits))
    found = [w for w in cfg.warnings if (w.line, w.attribute) == (line, attribute) and text in w.message]
    assert found, "\n".join(str(w) for w in cfg.warnings)
    assert found[0].severity == "warning"


def test_tolerated_names_are_ignored_not_refused() -> None:
    cfg = parse_config(
        mutate(
            ('<cman expected_votes="3"/>', '<cman expected_votes="3" upgrading="no"/>'),
            ('<totem token="21000"/>', '<totem token="21000" secauth="on"/>\n<logging debug="on"><x/></logging>'),
            ("  </rm>", "    <vm name='guest'/>\n  </rm>"),
        )
    )
    ignored = {(w.line, w.path, w.attribute) for w in cfg.warnings if w.severity == "ignored"}
    assert ignored == {
        (3, "/cluster/cman", "upgrading"),
        (4, "/cluster/totem", "secauth"),
        (5, "/cluster/logging", None),
    }
    assert cfg.token_ms == 21000
    # A <vm> is no longer ignored: it is a resource group of kind vm (the daemon refuses to run it).
    assert [(v.kind, v.rg_name) for v in cfg.rm.vms] == [("vm", "vm:guest")]


def test_booleans_follow_atoi_and_yes_no() -> None:
    cfg = parse_config(
        mutate(
            ('<cman expected_votes="3"/>', '<cman expected_votes="3" wait_for_all="true"/>'),
            ('recovery="relocate"', 'autostart="no" exclusive="yes"'),
        )
    )
    assert cfg.wait_for_all is False  # atoi("true") == 0, as cman reads it; a warning says so
    service = cfg.rm.services[0]
    assert (service.autostart, service.exclusive) == (False, True)


def test_qdisk_defaults_and_derivations() -> None:
    cfg = parse_config(
        mutate(
            ('<totem token="21000"/>', '<totem token="21000"/>\n<quorumd label="q"/>'),
        )
    )
    q = cfg.quorumd
    assert q is not None
    # [R6]: tko = (21 - 1) / 2 = 10, tko_up = 3, master_wait = 5, votes = nodes - 1 = 2
    assert (q.interval, q.tko, q.tko_up, q.master_wait, q.upgrade_wait, q.votes) == (1, 10, 3, 5, 2, 2)
    assert cfg.expected_votes == 3  # qdisk votes are not added to expected_votes
    assert not [w for w in cfg.warnings if w.severity == "warning" and w.path == "/cluster/quorumd"]


def test_qdisk_heuristics_and_min_score() -> None:
    cfg = parse_config(
        mutate(
            (
                '<totem token="21000"/>',
                '<totem token="60000"/>\n<quorumd label="q" interval="2" tko="8" votes="1" master_wins="1">'
                '<heuristic program="ping -c1 gw" score="2"/><heuristic program="true" score="0" interval="-1"/>'
                "</quorumd>",
            ),
        )
    )
    q = cfg.quorumd
    assert q is not None
    assert [(h.program, h.score, h.interval, h.tko) for h in q.heuristics] == [
        ("ping -c1 gw", 2, 2, 1),
        ("true", 1, 2, 1),
    ]
    assert q.min_score == 2  # floor(3 / 2) + 1
    assert q.master_wins is False  # ignored with heuristics
    assert q.votes == 1
    messages = [w.message for w in cfg.warnings]
    assert any("master_wins is ignored" in m for m in messages)
    assert any("score 0 is not positive" in m for m in messages)


def test_two_node_cluster_and_consensus() -> None:
    cfg = parse_config(
        mutate(
            ('<cman expected_votes="3"/>', '<cman two_node="1" expected_votes="1" port="6000" cluster_id="42"/>'),
            ('<totem token="21000"/>', '<totem token="5000" join="100"/>'),
            ('    <clusternode name="melchior.localdomain" nodeid="3">', "<!--"),
            ("    </clusternode>\n  </clusternodes>", "-->\n  </clusternodes>"),
        )
    )
    assert cfg.two_node and cfg.expected_votes == 1 and len(cfg.nodes) == 2
    assert (cfg.port, cfg.cluster_id, cfg.multicast_address) == (6000, 42, "239.192.0.42")
    assert (cfg.token_ms, cfg.join_ms, cfg.consensus_ms) == (5000, 100, 1000)  # 0.2 x token for two nodes


def test_references_resolve_to_the_global_resource() -> None:
    cfg = parse_config(mutate(('<script ref="app"/>', '<script ref="app" __independent_subtree="1"/>')))
    (ip,) = cfg.rm.services[0].children
    (script,) = ip.children
    assert (ip.ref, ip.primary, ip.get("monitor_link")) == ("10.0.0.50/24", "10.0.0.50/24", "1")
    assert script.ref == "app"
    assert script.attrs == (("name", "app"), ("file", "/etc/init.d/app"), ("__independent_subtree", "1"))
    assert [r.primary for r in cfg.rm.resources] == ["10.0.0.50/24", "app"]


def test_times_and_actions() -> None:
    cfg = parse_config(
        mutate(
            ('recovery="relocate"', 'max_restarts="3" restart_expire_time="1h30m"'),
            ('<script ref="app"/>', '<script ref="app"><action name="status" depth="*" interval="2m"/></script>'),
        )
    )
    service = cfg.rm.services[0]
    assert (service.max_restarts, service.restart_expire_time) == (3, 5400)
    (script,) = service.children[0].children
    assert [(a.name, a.depth, a.interval, a.timeout) for a in script.actions] == [("status", "*", 120, None)]


def test_qdisk_floors() -> None:
    cfg = parse_config(
        mutate(('<totem token="21000"/>', '<totem token="21000"/>\n<quorumd label="q" interval="0" upgrade_wait="0"/>'))
    )
    q = cfg.quorumd
    assert q is not None and (q.interval, q.upgrade_wait) == (1, 1)
    assert {w.attribute for w in cfg.warnings if "is used as 1" in w.message} == {"interval", "upgrade_wait"}
