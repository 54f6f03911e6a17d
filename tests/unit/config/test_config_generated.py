"""Generated valid configurations (not mutations): they load, survive ccs_tool edits, and plan_change never fails.

The generator builds cluster.conf files from the grammar quorate accepts: 1 to 6 nodes with 1 to 3 votes, fence
devices and methods, an optional quorum disk, failover domains over existing nodes, and services whose trees use
every resource type (including ocf and systemd) by definition or by reference. Each generated file must load;
then random ccs_tool edits are applied to it through the same code the command uses, and every pair of versions
is compared with plan_change and check_successor.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quorate.config import ConfigError, parse_config
from quorate.config.changes import check_successor, describe, plan_change
from quorate.config.edit import Document, EditError

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@st.composite
def configurations(draw: st.DrawFn) -> str:
    node_names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    nodes = [(f"{n}.example.net", i + 1, draw(st.integers(1, 3))) for i, n in enumerate(node_names)]
    devices = draw(st.lists(NAMES.map(lambda s: "fd_" + s), max_size=3, unique=True))
    token = draw(st.sampled_from([10000, 21000, 60000]))
    lines = [f'<?xml version="1.0"?>\n<cluster name="gen" config_version="{draw(st.integers(0, 1000))}">']
    if draw(st.booleans()):
        lines.append(f'  <cman port="{draw(st.integers(2000, 6000))}"/>')
    lines.append(f'  <totem token="{token}"/>')
    qdisk = len(nodes) <= 16 and all(v == 1 for _, _, v in nodes) and draw(st.booleans())
    if qdisk:
        lines.append('  <quorumd interval="1" tko="4" label="gen_qdisk"/>')
    lines.append("  <clusternodes>")
    for name, nodeid, votes in nodes:
        lines.append(f'    <clusternode name="{name}" nodeid="{nodeid}" votes="{votes}">')
        if devices:
            device = draw(st.sampled_from(devices))
            lines.append(f'      <fence><method name="m1"><device name="{device}" port="{nodeid}"/></method></fence>')
        lines.append("    </clusternode>")
    lines.append("  </clusternodes>")
    lines.append("  <fencedevices>")
    lines.extend(f'    <fencedevice name="{d}" agent="fence_manual"/>' for d in devices)
    lines.append("  </fencedevices>")
    lines.append("  <rm>")
    domains = draw(st.lists(NAMES.map(lambda s: "dom_" + s), max_size=2, unique=True))
    lines.append("    <failoverdomains>")
    for domain in domains:
        members = draw(st.lists(st.sampled_from([n for n, _, _ in nodes]), min_size=1, unique=True))
        lines.append(f'      <failoverdomain name="{domain}" ordered="1">')
        lines.extend(f'        <failoverdomainnode name="{m}" priority="{i + 1}"/>' for i, m in enumerate(members))
        lines.append("      </failoverdomain>")
    lines.append("    </failoverdomains>")
    lines.append('    <resources><script name="shared" file="/etc/init.d/shared"/></resources>')
    for index in range(draw(st.integers(0, 3))):
        domain = f' domain="{draw(st.sampled_from(domains))}"' if domains and draw(st.booleans()) else ""
        recovery = draw(st.sampled_from(["restart", "relocate", "disable"]))
        lines.append(f'    <service name="svc{index}"{domain} recovery="{recovery}">')
        options = draw(st.sampled_from(["", "noatime", "ro"]))
        lines.append(
            f'      <fs name="fs{index}" device="/dev/vg/lv{index}" mountpoint="/srv/{index}" options="{options}">'
        )
        if draw(st.booleans()):
            lines.append('        <script ref="shared"/>')
        if draw(st.booleans()):
            lines.append(f'        <ocf name="dummy{index}" agent="ocf:heartbeat:Dummy" fake="{draw(NAMES)}"/>')
        lines.append("      </fs>")
        if draw(st.booleans()):
            lines.append(f'      <ip address="10.0.{index}.{draw(st.integers(1, 254))}/24"/>')
        if draw(st.booleans()):
            lines.append(f'      <systemd name="unit{index}"/>')
        lines.append("    </service>")
    lines.append("  </rm>")
    lines.append("</cluster>")
    return "\n".join(lines) + "\n"


EDITS = st.lists(
    st.tuples(
        st.sampled_from(["addnode", "delnode", "addfence", "delfence"]),
        NAMES,
        st.integers(1, 40),
    ),
    min_size=1,
    max_size=4,
)


def _apply(data: bytes, edit: tuple[str, str, int]) -> bytes:
    kind, word, number = edit
    document = Document.parse(data)
    document.bump_version()
    if kind == "addnode":
        container = document.section("fencedevices")
        devices = [d.get("name", "") for d in container] if container is not None else []
        document.add_node(
            f"{word}.example.net",
            nodeid=number,
            votes=1,
            fence_device=devices[0] if devices else None,
            fence_args=[("port", str(number))] if devices else [],
        )
    elif kind == "delnode":
        nodes = document.nodes()
        document.delete_node(nodes[number % len(nodes)].get("name", ""))
    elif kind == "addfence":
        document.add_fence(f"new_{word}", "fence_manual", [("ipaddr", word)])
    else:
        device = document.section("fencedevices")
        names = [d.get("name", "") for d in device] if device is not None else []
        document.delete_fence(names[number % len(names)] if names else word)
    return document.to_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations(), EDITS)
def test_generated_configurations_survive_edits_and_change_plans(text: str, edits: list[tuple[str, str, int]]) -> None:
    current = parse_config(text, "gen.conf")  # the generator only produces valid files
    data = text.encode()
    for edit in edits:
        try:
            candidate_bytes = _apply(data, edit)
        except (EditError, IndexError, ZeroDivisionError):
            continue  # refused edits (duplicate id, unknown device...) leave the file as it was
        try:
            candidate = parse_config(candidate_bytes, "gen.conf")
        except ConfigError as exc:
            assert exc.errors and all(p.line >= 0 and p.path.startswith("/") for p in exc.errors)
            continue  # ccs_tool would refuse to write this
        change = plan_change(current, candidate)
        json.dumps(change.to_dict())
        assert describe(change)[0] == f"config_version {current.config_version} -> {candidate.config_version}"
        assert candidate.config_version == current.config_version + 1
        assert not [p for p in check_successor(current, candidate) if p.attribute == "config_version"]
        backwards = plan_change(candidate, current)
        assert {n.nodeid for n in change.nodes} == {n.nodeid for n in backwards.nodes}
        assert [p.attribute for p in check_successor(candidate, current) if p.severity == "error"] == ["config_version"]
        current, data = candidate, candidate_bytes


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations(), configurations())
def test_plan_change_between_any_two_generated_configurations(a: str, b: str) -> None:
    old, new = parse_config(a, "a.conf"), parse_config(b, "b.conf")
    change = plan_change(old, new)
    json.dumps(change.to_dict())
    assert all(isinstance(line, str) for line in describe(change))
    added = {s.name for s in change.services if s.action == "add"}
    assert added == {s.name for s in new.rm.services} - {s.name for s in old.rm.services}
    assert all(s.stays_stopped for s in change.services if s.action == "add")
    check_successor(old, new)
