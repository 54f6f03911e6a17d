"""Configurations for the fencing tests: the article's, and one with two methods (IPMI, then the switch)."""

from __future__ import annotations

from pathlib import Path

from quorate.config import ClusterConfig, parse_config

ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "article" / "cluster-1.conf"

TWO_METHODS = """<?xml version="1.0"?>
<cluster name="magi" config_version="1">
  <clusternodes>
    <clusternode name="balthasar.localdomain" nodeid="1">
      <fence>
        <method name="ipmi"><device name="ipmi-b" lanplus="1"/></method>
        <method name="netns"><device name="switch" port="balthasar"/></method>
      </fence>
    </clusternode>
    <clusternode name="casper.localdomain" nodeid="2">
      <fence>
        <method name="ipmi"><device name="ipmi-c" option="off"/></method>
        <method name="netns"><device name="switch" nodename="casper"/></method>
      </fence>
    </clusternode>
    <clusternode name="melchior.localdomain" nodeid="3"/>
  </clusternodes>
  <fencedevices>
    <fencedevice name="ipmi-b" agent="fence_ipmilan" ipaddr="192.168.0.101" login="admin" passwd="ipmi-pw" cipher="3"/>
    <fencedevice name="ipmi-c" agent="fence_ipmilan" ipaddr="192.168.0.102" login="admin" passwd="ipmi-pw" cipher="3"/>
    <fencedevice name="switch" agent="fence_netns" ipaddr="192.168.0.254" passwd="switch-pw"/>
  </fencedevices>
</cluster>
"""


def config_with(fence_xml: dict[str, str], devices: str, nodes: tuple[str, ...] = ("a", "b", "c")) -> ClusterConfig:
    """A cluster of ``nodes`` (``<name>.example``) whose ``<fence>`` bodies and ``<fencedevices>`` are given."""
    body = "\n".join(
        f'<clusternode name="{name}.example" nodeid="{i}"><fence>{fence_xml.get(name, "")}</fence></clusternode>'
        for i, name in enumerate(nodes, start=1)
    )
    text = (
        f'<?xml version="1.0"?><cluster name="t" config_version="1"><clusternodes>{body}</clusternodes>'
        f"<fencedevices>{devices}</fencedevices></cluster>"
    )
    return parse_config(text)


def method(name: str, *devices: str) -> str:
    return f'<method name="{name}">' + "".join(f'<device name="{d}"/>' for d in devices) + "</method>"


def device(name: str, agent: str, **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f'<fencedevice name="{name}" agent="{agent}"{extra}/>'
