"""Names and fence values with control characters or line breaks are refused at load time, with a location."""

from __future__ import annotations

import pytest

from quorate.config import ConfigError, parse_config

BASE = """<?xml version="1.0"?>
<cluster name="magi" config_version="1">
  <clusternodes>
    <clusternode name="{node}" nodeid="1">
      <fence><method name="1"><device name="sw" port="{port}"/></method></fence>
    </clusternode>
    <clusternode name="b" nodeid="2"/>
  </clusternodes>
  <fencedevices><fencedevice name="{device}" agent="fence_netns" passwd="{passwd}"/></fencedevices>
  <rm>
    <failoverdomains><failoverdomain name="{domain}"><failoverdomainnode name="b"/></failoverdomain></failoverdomains>
    <resources><fs name="{resource}" device="/dev/sdb1" mountpoint="/srv" fstype="ext4"/></resources>
    <service name="{service}"><fs ref="{resource}"/></service>
  </rm>
</cluster>
"""
GOOD = {"node": "a", "port": "1", "device": "sw", "passwd": "s3cret", "domain": "d", "resource": "data",
        "service": "web"}  # fmt: skip


def conf(**changes: str) -> str:
    values = {**GOOD, **changes}
    if "device" in changes:  # keep the reference pointing at the device
        return BASE.format(**values).replace('device name="sw"', f'device name="{changes["device"]}"')
    return BASE.format(**values)


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.conf")
    return [str(p) for p in info.value.errors]


def test_the_base_file_loads() -> None:
    parse_config(conf(), "c.conf")


def test_a_node_name_with_a_line_break_cannot_reach_a_fence_agent() -> None:
    found = errors(conf(node="c&#10;action=on"))
    assert any(
        "/cluster/clusternodes/clusternode[1][@name]" in e and "control characters (U+000A)" in e and ":4:" in e
        for e in found
    ), found


@pytest.mark.parametrize(
    ("field", "value", "path", "char"),
    [
        ("node", "a&#9;b", "clusternode[1][@name]", "U+0009"),
        ("node", "a\x7fb", "clusternode[1][@name]", "U+007F"),
        ("device", "sw&#13;", "fencedevice[1][@name]", "U+000D"),
        ("domain", "d&#10;x", "failoverdomain[1][@name]", "U+000A"),
        ("service", "web&#10;", "service[1][@name]", "U+000A"),
        ("resource", "da\x85ta", "fs[1][@name]", "U+0085"),
    ],
)
def test_names_with_control_characters_are_refused(field: str, value: str, path: str, char: str) -> None:
    found = errors(conf(**{field: value}))
    assert any(path in e and "control characters" in e and char in e for e in found), found


def test_an_overlong_name_is_refused() -> None:
    found = errors(conf(service="s" * 256))
    assert any("service[1][@name]" in e and "256 bytes long; at most 255" in e for e in found), found
    parse_config(conf(service="s" * 255), "c.conf")


@pytest.mark.parametrize(("field", "path"), [("port", "device[1][@port]"), ("passwd", "fencedevice[1][@passwd]")])
def test_fence_values_with_a_line_break_are_refused(field: str, path: str) -> None:
    found = errors(conf(**{field: "x&#10;action=on"}))
    assert any(path in e and "line break" in e for e in found), found


def test_a_tab_in_a_fence_password_is_still_allowed() -> None:
    parse_config(conf(passwd="a&#9;b"), "c.conf")


LVM = """<?xml version="1.0"?>
<cluster name="magi" config_version="1">
  <clusternodes><clusternode name="{node}" nodeid="1"/><clusternode name="b" nodeid="2"/></clusternodes>
  <rm><service name="s"><lvm name="l" vg_name="{vg}" lv_name="{lv}"/></service></rm>
</cluster>
"""


def test_lvm_base_loads() -> None:
    parse_config(LVM.format(node="a.example", vg="vg_data", lv="lv-1.home+x"), "c.conf")


@pytest.mark.parametrize(
    ("node", "vg", "lv", "where", "words"),
    [
        ("a", "--config=devices{filter=[]}", "lv", "lvm[1][@vg_name]", "begins with '-', so LVM would read it"),
        ("a", "vg", "-ay", "lvm[1][@lv_name]", "begins with '-', so LVM would read it"),
        ("a", "vg", "lv data", "lvm[1][@lv_name]", "is not a valid LVM name"),
        ("a", "vg/x", "lv", "lvm[1][@vg_name]", "is not a valid LVM name"),
        ('a&quot;b', "vg", "lv", "clusternode[1][@name]", "cannot be an LVM tag"),
    ],
)
def test_lvm_values_lvm_would_misread_are_refused(node: str, vg: str, lv: str, where: str, words: str) -> None:
    found = errors(LVM.format(node=node, vg=vg, lv=lv))
    assert any(where in e and words in e for e in found), found


def test_node_names_need_not_be_lvm_tags_without_lvm_resources() -> None:
    parse_config(conf(node="a b"), "c.conf")
