"""Inputs shared by the config tests: the article's files and a small valid configuration to break."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "article"
ARTICLE_1 = FIXTURES / "cluster-1.conf"
ARTICLE_2 = FIXTURES / "cluster-2.conf"

# Every element on its own line so that tests can name exact line numbers. It loads with no warning at all.
BASE = """<?xml version="1.0"?>
<cluster name="magi" config_version="7">
  <cman expected_votes="3"/>
  <totem token="21000"/>
  <clusternodes>
    <clusternode name="balthasar.localdomain" nodeid="1" votes="1">
      <fence>
        <method name="ipmi">
          <device name="ipmi" port="1"/>
        </method>
      </fence>
    </clusternode>
    <clusternode name="casper.localdomain" nodeid="2">
      <fence>
        <method name="ipmi">
          <device name="ipmi" port="2"/>
        </method>
      </fence>
    </clusternode>
    <clusternode name="melchior.localdomain" nodeid="3">
      <fence>
        <method name="ipmi">
          <device name="ipmi" port="3"/>
        </method>
      </fence>
    </clusternode>
  </clusternodes>
  <fencedevices>
    <fencedevice name="ipmi" agent="fence_ipmilan" ipaddr="10.0.0.1" login="admin"/>
  </fencedevices>
  <rm>
    <failoverdomains>
      <failoverdomain name="ring01" ordered="1" restricted="1">
        <failoverdomainnode name="balthasar.localdomain" priority="10"/>
        <failoverdomainnode name="casper.localdomain" priority="20"/>
      </failoverdomain>
    </failoverdomains>
    <resources>
      <ip address="10.0.0.50/24" monitor_link="1"/>
      <script name="app" file="/etc/init.d/app"/>
    </resources>
    <service name="web" domain="ring01" recovery="relocate">
      <ip ref="10.0.0.50/24">
        <script ref="app"/>
      </ip>
    </service>
  </rm>
</cluster>
"""


def mutate(*edits: tuple[str, str]) -> bytes:
    """BASE with each (old, new) replaced once; a test fails loudly if its anchor text is not there."""
    text = BASE
    for old, new in edits:
        assert old in text, f"anchor {old!r} not in BASE"
        text = text.replace(old, new, 1)
    return text.encode()
