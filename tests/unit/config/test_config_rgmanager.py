"""The resource manager part of cluster.conf as rgmanager read it: every resource type with its parameters,
any resource inside any resource, references on every element (services and virtual machines too),
<rm disabled>, and the located errors quorate keeps where rgmanager silently dropped things."""

from __future__ import annotations

import pytest

from quorate.config import ClusterConfig, ConfigError, parse_config
from quorate.config.rgcatalogue import ROOT_TYPES, SPECIAL_ATTRIBUTES, TYPES
from quorate.config.rgtree import build_forest, build_trees
from quorate.config.schema import vocabulary
from quorate.config.to_core import service_specs

HEAD = """<?xml version="1.0"?>
<cluster name="magi" config_version="7">
  <clusternodes>
    <clusternode name="a" nodeid="1"/>
    <clusternode name="b" nodeid="2"/>
  </clusternodes>
"""


def conf(rm: str, rm_attrs: str = "") -> str:
    return f"{HEAD}  <rm{rm_attrs}>\n{rm}\n  </rm>\n</cluster>\n"


def load(rm: str, rm_attrs: str = "") -> ClusterConfig:
    return parse_config(conf(rm, rm_attrs), "c.conf")


def problems(rm: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(conf(rm), "c.conf")
    return [str(p) for p in info.value.errors]


def warnings(rm: str, rm_attrs: str = "") -> list[str]:
    return [f"{w.severity}: {w}" for w in load(rm, rm_attrs).warnings]


def sample(rtype: str, primary: str = "x") -> str:
    """An element of ``rtype`` with every required parameter set."""
    spec = TYPES[rtype]
    attrs = {p.name: "/p" if p.name in ("mountpoint", "file") else "v" for p in spec.required}
    attrs[spec.primary] = "10.0.0.9" if rtype == "ip" else primary
    return f"<{rtype} " + " ".join(f'{k}="{v}"' for k, v in attrs.items()) + "/>"


# lvs and realserver only load together, with values that agree (tests/unit/resources/test_lvs_config.py).
@pytest.mark.parametrize("rtype", sorted(t for t in TYPES if t not in ROOT_TYPES and t not in ("lvs", "realserver")))
def test_every_rgmanager_type_loads_with_its_parameters(rtype: str) -> None:
    cfg = load(f'    <service name="s">\n      {sample(rtype)}\n    </service>')
    tree = build_trees(cfg)["s"]
    assert [n.type for n in tree.nodes()] == ["service", rtype] and tree.errors == ()


@pytest.mark.parametrize("rtype", ["apache", "SAPDatabase", "vm", "fs"])
def test_a_wrong_parameter_is_a_located_error_naming_the_valid_ones(rtype: str) -> None:
    element = sample(rtype).replace("/>", ' bogus_param="1"/>')
    found = problems(f"    {element}" if rtype == "vm" else f'    <service name="s">\n      {element}\n    </service>')
    assert len(found) == 1
    assert f"unknown attribute 'bogus_param' on <{rtype}>; valid attributes are:" in found[0]
    assert "c.conf:" in found[0] and "[@bogus_param]" in found[0]
    for param in TYPES[rtype].params:
        assert param.name in found[0]


def test_the_schema_and_the_catalogue_agree_on_every_parameter() -> None:
    specs = {s.name: s for s in vocabulary().specs.values() if s.name in TYPES}
    assert set(specs) == set(TYPES)
    for name, spec in specs.items():
        listed = {a for a, attr in spec.attrs.items() if attr.ignored is None}
        assert listed == {p.name for p in TYPES[name].params} | SPECIAL_ATTRIBUTES | {"ref"}, name
        assert (spec.any_attr is not None) == TYPES[name].open_params, name
        assert set(spec.children) == {"action"} | {t for t in TYPES if t not in ROOT_TYPES}, name


def test_any_resource_inside_any_resource_with_references_at_every_depth() -> None:
    cfg = load(
        """    <resources>
      <ip address="10.0.0.1"/>
      <fs name="data" device="/dev/x" mountpoint="/data"/>
    </resources>
    <service name="s">
      <script name="outer" file="/etc/init.d/outer">
        <ip ref="10.0.0.1">
          <fs ref="data">
            <apache name="web">
              <clusterfs name="g" device="/dev/g" mountpoint="/g"/>
            </apache>
          </fs>
        </ip>
      </script>
    </service>"""
    )
    tree = build_trees(cfg)["s"]
    assert [n.label for n in tree.start_order()] == [
        "service:s",
        "script:outer",
        "ip:10.0.0.1",
        "fs:data",
        "apache:web",
        "clusterfs:g",
    ]
    assert tree.find("fs", "data").get("device") == "/dev/x"  # type: ignore[union-attr]


def test_a_service_defined_in_resources_and_used_by_reference() -> None:
    cfg = load(
        """    <failoverdomains>
      <failoverdomain name="d1"><failoverdomainnode name="a"/></failoverdomain>
    </failoverdomains>
    <resources>
      <service name="web" domain="d1" autostart="0" recovery="relocate" max_restarts="3"/>
      <script name="httpd" file="/etc/init.d/httpd"/>
    </resources>
    <service ref="web">
      <script ref="httpd"/>
    </service>"""
    )
    (web,) = cfg.rm.services
    assert (web.name, web.ref, web.domain, web.autostart, web.recovery, web.max_restarts) == (
        "web",
        "web",
        "d1",
        False,
        "relocate",
        3,
    )
    assert [n.label for n in build_trees(cfg)["web"].start_order()] == ["service:web", "script:httpd"]
    assert build_trees(cfg)["web"].find("script", "httpd").get("service_name") == "web"  # type: ignore[union-attr]
    assert service_specs(cfg)["web"].domain is not None


def test_what_rgmanager_ignored_next_to_a_reference_is_a_warning_and_not_applied() -> None:
    rm = """    <resources>
      <service name="db" __enforce_timeouts="1">
        <script name="inside" file="/etc/init.d/inside"/>
      </service>
      <script name="pg" file="/etc/init.d/pg"/>
    </resources>
    <service ref="db" domain="nowhere">
      <script ref="pg" file="/other"/>
    </service>"""
    cfg = load(rm)
    found = warnings(rm)
    assert any("rm/service[1][@domain]: attributes next to ref= are not applied: domain" in w for w in found)
    assert any("script[1][@file]: attributes next to ref= are not applied: file" in w for w in found)
    assert any("resources inside a definition in <rm><resources> belong to no tree" in w for w in found)
    assert any("__enforce_timeouts on a definition in <rm><resources> is not applied" in w for w in found)
    tree = build_trees(cfg)["db"]
    assert [n.label for n in tree.nodes()] == ["service:db", "script:pg"]
    assert cfg.rm.services[0].domain is None and not tree.root.enforce_timeouts
    assert tree.find("script", "pg").get("file") == "/etc/init.d/pg"  # type: ignore[union-attr]


def test_a_reference_may_name_a_unique_required_parameter_as_rgmanager_allowed() -> None:
    cfg = load(
        """    <resources><script name="app" file="/etc/init.d/app"/></resources>
    <service name="s"><script ref="/etc/init.d/app"/></service>"""
    )
    assert build_trees(cfg)["s"].find("script", "app") is not None


def test_virtual_machines_are_groups_of_kind_vm() -> None:
    cfg = load(
        """    <resources><vm name="g2" use_virsh="1"/></resources>
    <service name="s"/>
    <vm name="g1" path="/etc/xen" migrate="live" domain="d" exclusive="1"/>
    <vm ref="g2"/>
    <failoverdomains><failoverdomain name="d"><failoverdomainnode name="a"/></failoverdomain></failoverdomains>"""
    )
    assert [(v.kind, v.rg_name, v.exclusive) for v in cfg.rm.vms] == [("vm", "vm:g1", True), ("vm", "vm:g2", False)]
    assert [g.rg_name for g in cfg.rm.groups] == ["service:s", "vm:g1", "vm:g2"]
    assert [t.rg_name for t in build_forest(cfg)] == ["service:s", "vm:g1", "vm:g2"]
    assert list(build_trees(cfg)) == ["s"] and list(service_specs(cfg)) == ["s"]  # quorate runs no vm


def test_a_vm_and_a_service_of_one_name_are_refused() -> None:
    found = problems('    <service name="x"/>\n    <vm name="x"/>')
    assert any("vm 'x' has the name of the service" in p and "one namespace" in p for p in found)


def test_rm_disabled_loads_and_manages_nothing() -> None:
    cfg = load('    <service name="s"><script name="x" file="/etc/init.d/x"/></service>', ' disabled="1"')
    assert cfg.rm.disabled and [s.name for s in cfg.rm.services] == ["s"] and cfg.rm.managed == ()
    assert service_specs(cfg) == {}
    assert not load('    <service name="s"/>').rm.disabled


def test_rm_attributes_rgmanager_knew_are_accepted_and_the_unused_ones_said_ignored() -> None:
    attrs = (
        ' log_level="7" log_facility="local4" central_processing="0" status_poll_interval="5"'
        ' status_child_max="10" transition_throttling="3"'
    )
    cfg = load('    <service name="s"/>', attrs)
    assert cfg.rm.status_poll_interval == 5
    ignored = {w.attribute: w.message for w in cfg.warnings if w.severity == "ignored"}
    unused = {"log_level", "log_facility", "central_processing", "status_child_max", "transition_throttling"}
    assert set(ignored) == unused
    assert "journal" in ignored["log_level"] and "throttle" in ignored["transition_throttling"]


def test_groups_stand_only_under_rm_or_in_resources() -> None:
    found = problems('<service name="s"><fs name="d" device="/d" mountpoint="/d"><service name="t"/></fs></service>')
    assert any("<service> is not allowed inside <fs>" in p for p in found)


# ------------------------------------------------------------------------- what stays a located error
def test_a_cycle_through_references_is_refused() -> None:
    found = problems(
        """    <resources><script name="a" file="/etc/init.d/a"/></resources>
    <service name="s">
      <script ref="a"><fs name="d" device="/d" mountpoint="/d"><script ref="a"/></fs></script>
    </service>"""
    )
    assert found == [
        "c.conf:10: /cluster/rm/service[1]/script[1]/fs[1]/script[1][@ref]: script 'a' is used inside itself "
        "(a resource cannot contain a reference to itself or to one of its ancestors)"
    ]


def test_a_reference_to_nothing_and_to_another_type_are_refused() -> None:
    found = problems(
        """    <resources><script name="app" file="/etc/init.d/app"/></resources>
    <service name="s"><fs ref="app"/><ip ref="10.9.9.9"/></service>
    <service ref="nobody"/>"""
    )
    assert any("fs[1][@ref]: no fs resource 'app' in <rm><resources>: 'app' is a <script> resource" in p for p in found)
    assert any("ip[1][@ref]: no ip resource '10.9.9.9' in <rm><resources>" in p for p in found)
    assert any("service[2][@ref]: no service resource 'nobody'" in p for p in found)


def test_a_service_used_twice_or_a_primary_repeated_is_refused() -> None:
    found = problems(
        """    <resources><service name="web"/></resources>
    <service ref="web"/>
    <service ref="web"/>
    <service name="web"/>"""
    )
    assert any("service[2][@ref]" in p and "a service resource can be used only once" in p for p in found), found
    assert any("service[3][@name]: service name 'web' is already used by /cluster/rm/resources/service[1]" in p
               for p in found)  # fmt: skip


def test_an_unused_group_definition_and_idle_restart_settings_are_warnings() -> None:
    found = warnings(
        """    <resources><service name="spare"/></resources>
    <service name="s">
      <script name="a" file="/etc/init.d/a" __max_restarts="3" __restart_expire_time="1h"/>
      <script name="b" file="/etc/init.d/b" __independent_subtree="1" __max_restarts="3"/>
      <script name="c" file="/etc/init.d/c" __max_failures="2"/>
    </service>"""
    )
    assert any("service 'spare' is defined in <rm><resources> but never used" in w for w in found)
    assert any("script[1][@__max_restarts]: __max_restarts applies only to an independent subtree" in w for w in found)
    assert any("script[2][@__max_restarts]: __max_restarts has no effect without __restart_expire_time" in w
               for w in found)  # fmt: skip
    assert any("script[3][@__max_failures]: __max_failures has no effect without __failure_expire_time" in w
               for w in found)  # fmt: skip
