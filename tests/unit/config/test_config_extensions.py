"""quorate's resource types <ocf> and <systemd>: accepted in services and <resources>, checked, and runnable."""

from __future__ import annotations

import pytest

from quorate.config import ConfigError, parse_config
from quorate.config.rgtree import build_trees

HEAD = """<?xml version="1.0"?>
<cluster name="magi" config_version="7">
  <clusternodes>
    <clusternode name="a" nodeid="1"/>
    <clusternode name="b" nodeid="2"/>
  </clusternodes>
  <rm>
"""
TAIL = """  </rm>
</cluster>
"""


def conf(rm: str) -> str:
    return HEAD + rm + TAIL


def errors(rm: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(conf(rm), "c.conf")
    return [str(p) for p in info.value.errors]


def test_dummy_service_loads_into_a_resource_tree() -> None:
    cfg = parse_config(
        conf(
            """    <resources>
      <ocf name="shared" agent="ocf:heartbeat:Dummy" fake="global"/>
      <systemd name="nginx"/>
    </resources>
    <service name="web">
      <ocf name="d1" agent="ocf:heartbeat:Dummy" fake="abc" __independent_subtree="1">
        <systemd name="app" unit="app.service"/>
      </ocf>
      <ocf ref="shared"/>
      <systemd ref="nginx"/>
    </service>
"""
        )
    )
    tree = build_trees(cfg)["web"]
    assert tree.errors == ()
    started = [(n.type, n.primary) for n in tree.start_order()]
    assert started == [("service", "web"), ("ocf", "d1"), ("systemd", "app"), ("ocf", "shared"), ("systemd", "nginx")]
    d1 = tree.find("ocf", "d1")
    assert d1 is not None and dict(d1.attrs) == {"name": "d1", "agent": "ocf:heartbeat:Dummy", "fake": "abc"}
    assert d1.independent is not None
    shared = tree.find("ocf", "shared")
    assert shared is not None and shared.get("fake") == "global"
    # Stop order mirrors start order.
    assert [(n.type, n.primary) for n in tree.stop_order()] == list(reversed(started))


@pytest.mark.parametrize("agent", ["ocf:heartbeat:Dummy", "heartbeat:Dummy", "Dummy", "ocf:pacemaker:Stateful"])
def test_agent_spellings_the_runner_accepts(agent: str) -> None:
    parse_config(conf(f'    <service name="s"><ocf name="d" agent="{agent}"/></service>\n'))


@pytest.mark.parametrize("agent", ["ocf:../../bin:sh", "a/b", "ocf:heartbeat:..", "x:y:z:w", "", "ocf::"])
def test_agent_that_is_not_a_plain_name_is_refused(agent: str) -> None:
    found = errors(f'    <service name="s"><ocf name="d" agent="{agent}"/></service>\n')
    assert any("[@agent]" in e for e in found), found


def test_missing_agent_and_unknown_special_attribute_are_located() -> None:
    found = errors('    <service name="s">\n      <ocf name="d" __independant_subtree="1"/>\n    </service>\n')
    assert any(e.startswith("c.conf:9: /cluster/rm/service[1]/ocf[1][@agent]: <ocf> needs 'agent'") for e in found)
    assert any("'__independant_subtree'" in e and "did you mean '__independent_subtree'?" in e for e in found)


def test_agent_parameters_are_free_but_special_attributes_keep_their_type() -> None:
    parse_config(conf('<service name="s"><ocf name="d" agent="IPaddr2" ip="10.0.0.9" cidr_netmask="24"/></service>'))
    found = errors('    <service name="s"><ocf name="d" agent="Dummy" __max_failures="many"/></service>\n')
    assert any("[@__max_failures]" in e for e in found)


def test_systemd_units_are_unique_and_plain_names() -> None:
    found = errors(
        """    <resources>
      <systemd name="nginx"/>
      <systemd name="web2" unit="nginx.service"/>
    </resources>
    <service name="s"><systemd name="x" unit="--force"/></service>
"""
    )
    assert any("systemd unit 'nginx.service' is already used by /cluster/rm/resources/systemd[1]" in e for e in found)
    assert any("'--force' is not a systemd unit name" in e for e in found)


def test_any_resource_may_contain_any_resource_and_such_children_are_untyped() -> None:
    # rgmanager's rule: a child of a type its parent's agent does not declare is "untyped" (after the typed
    # children, in document order), whatever the parent; quorate no longer refuses such nesting.
    cfg = parse_config(
        conf(
            '    <service name="s">\n      <systemd name="y"><ip address="10.0.0.1"/></systemd>\n'
            '      <script name="sc" file="/etc/init.d/x"><ocf name="o" agent="Dummy"/></script>\n    </service>\n'
        )
    )
    tree = build_trees(cfg)["s"]
    assert [n.label for n in tree.start_order()] == ["service:s", "script:sc", "ocf:o", "systemd:y", "ip:10.0.0.1"]
    assert [n.label for n in tree.stop_order()] == ["ip:10.0.0.1", "systemd:y", "ocf:o", "script:sc", "service:s"]


def test_ocf_and_systemd_nest_under_storage() -> None:
    cfg = parse_config(
        conf(
            '    <service name="s">\n      <fs name="data" device="/dev/x" mountpoint="/srv">\n'
            '        <systemd name="app"/>\n        <ocf name="o" agent="Dummy"/>\n      </fs>\n    </service>\n'
        )
    )
    assert [n.type for n in build_trees(cfg)["s"].start_order()] == ["service", "fs", "systemd", "ocf"]


def test_global_ocf_cannot_carry_ref() -> None:
    found = errors('    <resources><ocf ref="x" name="d" agent="Dummy"/></resources>\n')
    assert any("ocf[1][@ref]: a definition in <rm><resources> cannot itself be a reference" in e for e in found), found
