"""Broken files: each problem is found, located (line, element path, attribute) and explained."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from config_samples import BASE, mutate

from quorate.config import ConfigError, Problem, parse_config

SERVICE2 = """    </service>
    <service name="shop" domain="ring01">
      <ip ref="10.0.0.50/24"/>
    </service>"""


@dataclass(frozen=True)
class Case:
    id: str
    edits: tuple[tuple[str, str], ...]
    line: int
    path: str
    attribute: str | None
    mentions: tuple[str, ...]
    hint: str | None = None
    severity: str = "error"


NODE1 = "/cluster/clusternodes/clusternode[1]"
NODE2 = "/cluster/clusternodes/clusternode[2]"
NODE3 = "/cluster/clusternodes/clusternode[3]"
SERVICE = "/cluster/rm/service[1]"

CASES = [
    Case("typo-attribute", (('votes="1">', 'vots="1">'),), 6, NODE1, "vots", ("unknown attribute 'vots'",), "'votes'"),
    Case("duplicate-nodeid", (('nodeid="3"', 'nodeid="2"'),), 20, NODE3, "nodeid", ("nodeid 2", NODE2, "line 13")),
    Case("nodeid-nbsp", (('nodeid="2"', 'nodeid="\u00a02"'),), 13, NODE2, "nodeid", ("1 or more",)),
    Case("nodeid-zero", (('nodeid="2"', 'nodeid="0"'),), 13, NODE2, "nodeid", ("1 or more", "'0'")),
    Case("votes-negative", (('votes="1">', 'votes="-1">'),), 6, NODE1, "votes", ("1 to 255", "'-1'")),
    Case(
        "duplicate-node-name",
        (('"casper.localdomain" nodeid', '"balthasar.localdomain" nodeid'),),
        13,
        NODE2,
        "name",
        ("'balthasar.localdomain'", "already used", NODE1),
    ),
    Case(
        "cluster-name-too-long",
        (('name="magi"', 'name="magimagimagimagi"'),),
        2,
        "/cluster",
        "name",
        ("'magimagimagimagi'", "16 bytes", "at most 15"),
    ),
    Case(
        "config-version", (('config_version="7"', 'config_version="7.1"'),), 2, "/cluster", "config_version", ("'7.1'",)
    ),
    Case(
        "unknown-fence-device",
        (('name="ipmi" port="2"', 'name="ipmy" port="2"'),),
        16,
        NODE2 + "/fence/method[1]/device[1]",
        "name",
        ("no <fencedevice name='ipmy'>", "'ipmi'"),
        "did you mean 'ipmi'?",
    ),
    Case(
        "two-node-with-three",
        (('<cman expected_votes="3"/>', '<cman two_node="1" expected_votes="1"/>'),),
        3,
        "/cluster/cman",
        "two_node",
        ("3 nodes",),
        "two_node=0",
    ),
    Case(
        "domain-member-not-a-node",
        (('"casper.localdomain" priority', '"casper" priority'),),
        35,
        "/cluster/rm/failoverdomains/failoverdomain[1]/failoverdomainnode[2]",
        "name",
        ("'casper' is not a clusternode", "'melchior.localdomain'"),
        "did you mean 'casper.localdomain'?",
    ),
    Case(
        "domain-member-twice",
        (('"casper.localdomain" priority', '"balthasar.localdomain" priority'),),
        35,
        "/cluster/rm/failoverdomains/failoverdomain[1]/failoverdomainnode[2]",
        "name",
        ("already listed", "line 34"),
    ),
    Case(
        "domain-priority-out-of-range",
        (('priority="10"', 'priority="0"'),),
        34,
        "/cluster/rm/failoverdomains/failoverdomain[1]/failoverdomainnode[1]",
        "priority",
        ("from 1 (most preferred) to 100", "'0'"),
    ),
    Case(
        "duplicate-domain",
        (("    </failoverdomains>", '      <failoverdomain name="RING01"/>\n    </failoverdomains>'),),
        37,
        "/cluster/rm/failoverdomains/failoverdomain[2]",
        "name",
        ("'RING01'", "already defined", "line 33"),
        "case",
    ),
    Case(
        "service-unknown-domain",
        (('domain="ring01"', 'domain="ring02"'),),
        42,
        SERVICE,
        "domain",
        ("no failover domain 'ring02'", "'ring01'"),
        "did you mean 'ring01'?",
    ),
    Case(
        "ref-missing",
        (('<script ref="app"/>', '<script ref="ap"/>'),),
        44,
        SERVICE + "/ip[1]/script[1]",
        "ref",
        ("no script resource 'ap'", "'app'"),
        "did you mean 'app'?",
    ),
    Case(
        "ref-to-inline-definition",
        (('<script ref="app"/>', '<script name="local" file="/etc/init.d/local"/><script ref="local"/>'),),
        44,
        SERVICE + "/ip[1]/script[2]",
        "ref",
        ("defined inside a service", SERVICE + "/ip[1]/script[1]"),
        "<rm><resources>",
    ),
    Case(
        "forbidden-child",
        (('<script ref="app"/>', '<nfsclient name="c" target="*"/>'),),
        44,
        SERVICE + "/ip[1]/nfsclient[1]",
        None,
        ("<ip> resource cannot contain <nfsclient>", "forbids"),
        "move <nfsclient> up",
    ),
    Case(
        "ref-to-another-type",
        (('<script ref="app"/>', '<fs ref="app"/>'),),
        44,
        SERVICE + "/ip[1]/fs[1]",
        "ref",
        ("no fs resource 'app'", "is a <script> resource"),
        "<script ref='app'/>",
    ),
    Case(
        "primary-collision",
        (
            (
                '<script name="app" file="/etc/init.d/app"/>',
                '<script name="app" file="/a"/><script name="app" file="/b"/>',
            ),
        ),
        40,
        "/cluster/rm/resources/script[2]",
        "name",
        ("script name 'app'", "already used", "/cluster/rm/resources/script[1]"),
    ),
    Case(
        "ip-used-twice",
        (("    </service>", SERVICE2),),
        48,
        "/cluster/rm/service[2]/ip[1]",
        "ref",
        ("'10.0.0.50/24'", "service 'web'", "only once"),
    ),
    Case(
        "unique-file-collision",
        (
            (
                '<script name="app" file="/etc/init.d/app"/>',
                '<script name="app" file="/a"/><script name="b" file="/a"/>',
            ),
        ),
        40,
        "/cluster/rm/resources/script[2]",
        "file",
        ("'/a'", "/cluster/rm/resources/script[1]"),
    ),
    Case(
        "inline-fs-missing-device",
        (('<script ref="app"/>', '<fs name="data" mountpoint="/srv"/>'),),
        44,
        SERVICE + "/ip[1]/fs[1]",
        "device",
        ("needs 'device'", "block device", "missing"),
        "ref=",
    ),
    Case(
        "ip-address-invalid",
        (('<ip address="10.0.0.50/24" monitor_link="1"/>', '<ip address="10.0.0.500/24"/>'),),
        39,
        "/cluster/rm/resources/ip[1]",
        "address",
        ("'10.0.0.500/24' is not an IP address",),
    ),
    Case(
        "mountpoint-relative",
        (('<script ref="app"/>', '<fs name="d" device="/dev/x" mountpoint="srv"/>'),),
        44,
        SERVICE + "/ip[1]/fs[1]",
        "mountpoint",
        ("'srv' is not an absolute path",),
    ),
    Case(
        "restart-expire-time",
        (('recovery="relocate"', 'restart_expire_time="10x"'),),
        42,
        SERVICE,
        "restart_expire_time",
        ("duration", "'10x'"),
    ),
    Case(
        "depend-missing",
        (('recovery="relocate"', 'depend="service:db"'),),
        42,
        SERVICE,
        "depend",
        ("'db'", "not defined", "'web'"),
    ),
    Case("depend-self", (('recovery="relocate"', 'depend="service:web"'),), 42, SERVICE, "depend", ("itself",)),
    Case(
        "typo-element",
        (('<totem token="21000"/>', '<totme token="21000"/>'),),
        4,
        "/cluster/totme[1]",
        None,
        ("unknown element <totme>", "<totem>"),
        "did you mean <totem>?",
    ),
    Case(
        "misplaced-element",
        (("      </fence>\n    </clusternode>", '      </fence>\n      <quorumd label="q"/>\n    </clusternode>'),),
        12,
        NODE1 + "/quorumd",
        None,
        ("<quorumd> is not allowed inside <clusternode>", "belongs inside <cluster>"),
        "<fence>",
    ),
    Case(
        "second-cman",
        (('<totem token="21000"/>', '<cman port="6000"/>'),),
        4,
        "/cluster/cman",
        None,
        ("only one <cman>",),
    ),
    Case(
        "quorumd-without-label",
        (('<totem token="21000"/>', '<totem token="21000"/><quorumd votes="2"/>'),),
        4,
        "/cluster/quorumd",
        None,
        ("label= or device=",),
    ),
    Case(
        "qdisk-nodeid-above-16",
        (('<totem token="21000"/>', '<totem token="21000"/><quorumd label="q"/>'), ('nodeid="3"', 'nodeid="17"')),
        20,
        NODE3,
        "nodeid",
        ("nodeid 17", "quorum disk"),
        "1 to 16",
    ),
    Case(
        "qdisk-auto-votes-need-one-vote-nodes",
        (('<totem token="21000"/>', '<totem token="21000"/><quorumd label="q"/>'), ('votes="1">', 'votes="2">')),
        6,
        NODE1,
        "votes",
        ("2 votes", "every node at 1 vote"),
        "votes= on <quorumd>",
    ),
    Case(
        "expected-votes-unreachable",
        (('expected_votes="3"', 'expected_votes="9"'),),
        3,
        "/cluster/cman",
        "expected_votes",
        ("expected_votes 9", "5 votes", "only 3"),
        "never be quorate",
    ),
    Case(
        "multicast-not-multicast",
        (('<cman expected_votes="3"/>', '<cman expected_votes="3">\n<multicast addr="10.1.2.3"/></cman>'),),
        4,
        "/cluster/cman/multicast",
        "addr",
        ("10.1.2.3 is not a multicast address",),
        "239",
    ),
    Case(
        "stray-text",
        (("  </fencedevices>", "  </fencedevices>oops"),),
        30,
        "/cluster",
        None,
        ("unexpected text 'oops' inside <cluster>",),
    ),
    Case(
        "duplicate-fencedevice",
        (("</fencedevices>", '  <fencedevice name="ipmi" agent="fence_apc"/>\n  </fencedevices>'),),
        30,
        "/cluster/fencedevices/fencedevice[2]",
        "name",
        ("'ipmi'", "already used", "line 29"),
    ),
    Case("not-xml", (("<rm>", "<rm"),), 32, "/", None, ("not well-formed XML",), "closed"),
    Case(
        "service-name-duplicate",
        (("    </service>", '    </service>\n    <service name="web"/>'),),
        47,
        "/cluster/rm/service[2]",
        "name",
        ("service 'web'", "already defined", "line 42"),
    ),
    Case(
        "resource-used-inside-itself",
        (('<script ref="app"/>', '<ip ref="10.0.0.50/24"/>'),),
        44,
        SERVICE + "/ip[1]/ip[1]",
        "ref",
        ("'10.0.0.50/24' is used inside itself",),
    ),
]


def _problems(data: bytes) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="cluster.conf")
    return info.value.problems


def test_base_is_clean() -> None:
    cfg = parse_config(BASE.encode())
    assert cfg.warnings == ()
    assert cfg.rm.services[0].children[0].get("monitor_link") == "1"  # ref resolved to the global resource


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_file_is_located_and_explained(case: Case) -> None:
    problems = _problems(mutate(*case.edits))
    matching = [
        p
        for p in problems
        if (p.severity, p.line, p.path, p.attribute) == (case.severity, case.line, case.path, case.attribute)
    ]
    assert matching, "\n".join(str(p) for p in problems)
    problem = matching[0]
    assert problem.file == "cluster.conf"
    for text in case.mentions:
        assert text in problem.message, problem
    if case.hint is not None:
        assert problem.hint is not None and case.hint in problem.hint, problem
    assert all("internal error" not in p.message for p in problems)


def test_every_problem_is_reported_in_one_pass() -> None:
    problems = _problems(
        mutate(
            ('votes="1">', 'vots="1">'),
            ('name="ipmi" port="2"', 'name="ipmy" port="2"'),
            ('domain="ring01"', 'domain="ring02"'),
            ('nodeid="3"', 'nodeid="2"'),
        )
    )
    located = {(p.line, p.attribute) for p in problems if p.severity == "error"}
    assert located == {(6, "vots"), (16, "name"), (42, "domain"), (20, "nodeid")}


def test_problem_string_format() -> None:
    problem = Problem(
        "error", "/etc/cluster/cluster.conf", 12, "/cluster/clusternodes/clusternode[2]", "votes", "bad", "x"
    )
    assert str(problem) == "/etc/cluster/cluster.conf:12: /cluster/clusternodes/clusternode[2][@votes]: bad (x)"
    plain = Problem("warning", "f", 1, "/cluster", None, "msg", None)
    assert str(plain) == "f:1: /cluster: msg"


def test_config_error_summarises_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(mutate(('votes="1">', 'vots="1">')), source="c.conf")
    assert "c.conf:6:" in str(info.value) and "vots" in str(info.value)
    assert len(info.value.errors) == 1


def test_root_must_be_cluster() -> None:
    problems = _problems(b'<?xml version="1.0"?>\n<clustr name="x"/>\n')
    assert [(p.line, p.path, p.message) for p in problems] == [
        (2, "/clustr", "the root element must be <cluster>, not <clustr>")
    ]


def test_namespaced_root() -> None:
    problems = _problems(b'<cluster xmlns="urn:x" name="a" config_version="1"><clusternodes/></cluster>')
    assert [(p.line, p.path, p.hint) for p in problems] == [(1, "/cluster", "remove the xmlns= attribute")]


def test_missing_clusternodes() -> None:
    problems = _problems(b'<cluster name="a" config_version="1">\n  <cman/>\n</cluster>\n')
    assert [(p.line, p.path, p.message) for p in problems] == [
        (1, "/cluster", "<cluster> needs a <clusternodes> element")
    ]


def test_dependency_cycle() -> None:
    text = BASE.replace('recovery="relocate"', 'depend="service:db"').replace(
        "  </rm>", '    <service name="db" depend="service:web"/>\n  </rm>'
    )
    problems = _problems(text.encode())
    cycles = [p for p in problems if "cycle" in p.message]
    assert len(cycles) == 1 and "web -> db -> web" in cycles[0].message
