"""`quorate firewall`: the rules an administrator pastes or loads, checked line by line for the article's cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from quorate.cli.firewall import firewall, make_plan, nft_ruleset
from quorate.config import parse_config

ARTICLE = Path(__file__).parents[2] / "fixtures" / "article" / "cluster-2.conf"
MAGI = {
    "balthasar.localdomain": "192.168.0.201",
    "casper.localdomain": "192.168.0.202",
    "melchior.localdomain": "192.168.0.203",
}
ADDRESS_ARGS = [arg for name, ip in MAGI.items() for arg in ("--address", f"{name.split('.')[0]}={ip}")]

IPMI_CONF = """<?xml version="1.0"?>
<cluster name="lab" config_version="7">
  <cman port="6000"/>
  <clusternodes>
    <clusternode name="10.0.0.11" nodeid="1"><fence><method name="m">
      <device name="bmc" ipaddr="10.0.1.11"/></method></fence></clusternode>
    <clusternode name="10.0.0.12" nodeid="2"><fence><method name="m">
      <device name="bmc" ipaddr="10.0.1.12"/></method></fence></clusternode>
    <clusternode name="10.0.0.13" nodeid="3"><fence><method name="m">
      <device name="sw" port="3"/></method></fence></clusternode>
  </clusternodes>
  <fencedevices>
    <fencedevice name="bmc" agent="fence_ipmilan" login="admin" passwd="secret" lanplus="1"/>
    <fencedevice name="sw" agent="fence_netns" passwd="s"/>
  </fencedevices>
</cluster>
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(firewall, ["-c", str(ARTICLE), *ADDRESS_ARGS, *args])
    assert result.exit_code == 0, result.output
    return result.output


def rules(text: str) -> list[str]:
    """The lines that are not comments, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_article_cluster_nftables_accepts_port_5405_from_the_three_nodes_only() -> None:
    out = rules(run())
    assert out[:3] == ["table inet quorate", "delete table inet quorate", "table inet quorate {"]
    assert "type filter hook input priority filter; policy accept;" in out
    accept = next(line for line in out if "accept" in line and "5405" in line)
    assert accept.startswith("ip saddr { 192.168.0.201, 192.168.0.202, 192.168.0.203 } udp dport 5405 counter accept")
    drop = next(line for line in out if "drop" in line)
    assert drop.startswith("udp dport 5405 counter drop")
    assert out.index(accept) < out.index(drop), "members must be accepted before everyone else is dropped"
    # The article's other ports belong to daemons quorate replaces: nothing opens them.
    for port in ("5404", "50006", "50007", "14567", "21064"):
        assert not any(port in line for line in out)


def test_article_multicast_address_lets_igmp_in() -> None:
    out = run()
    assert 'ip protocol igmp accept comment "multicast group 224.0.0.1"' in out
    unicast = re.sub(r"<multicast\s+addr=\"224.0.0.1\"/>", "", ARTICLE.read_text())
    plan = make_plan(parse_config(unicast), MAGI)
    assert "igmp" not in nft_ruleset(plan)


def test_policy_drop_keeps_loopback_replies_icmp_and_requested_tcp_ports() -> None:
    out = rules(run("--policy", "drop", "--allow-tcp", "22", "--allow-tcp", "80"))
    assert "type filter hook input priority filter; policy drop;" in out
    for wanted in ('iifname "lo" accept', "ip protocol icmp accept", "tcp dport { 22, 80 } accept"):
        assert wanted in out
    assert any(line.startswith("ct state established,related accept") for line in out)
    # The default ruleset decides only the cluster port.
    assert not any("ct state" in line or "iifname" in line for line in rules(run()))


def test_iptables_format_is_a_whole_sysconfig_file() -> None:
    out = rules(run("--iptables"))
    assert out == [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        "-A INPUT -s 192.168.0.201/32 -p udp -m udp --dport 5405 -j ACCEPT",
        "-A INPUT -s 192.168.0.202/32 -p udp -m udp --dport 5405 -j ACCEPT",
        "-A INPUT -s 192.168.0.203/32 -p udp -m udp --dport 5405 -j ACCEPT",
        "-A INPUT -p udp -m udp --dport 5405 -j DROP",
        "-A INPUT -p igmp -j ACCEPT",
        "COMMIT",
    ]
    dropped = rules(run("--iptables", "--policy", "drop", "--allow-tcp", "22"))
    assert dropped[1] == ":INPUT DROP [0:0]"
    assert "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT" in dropped
    assert "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" in dropped


def test_cman_port_and_fence_devices_come_from_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text(IPMI_CONF)
    result = CliRunner().invoke(firewall, ["-c", str(conf)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ip saddr { 10.0.0.11, 10.0.0.12, 10.0.0.13 } udp dport 6000 counter accept" in out
    assert "udp dport 6000 counter drop" in out and "5405" not in out
    # Node names that are addresses need no resolver; fence devices are listed with their endpoints.
    assert "#   bmc (fence_ipmilan): udp 10.0.1.11:623" in out
    assert "#   bmc (fence_ipmilan): udp 10.0.1.12:623" in out
    assert "#   sw (fence_netns): tcp 192.168.0.254:1623" in out
    assert "igmp" not in out


def test_unresolvable_names_are_an_error_naming_them(tmp_path: Path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text(ARTICLE.read_text().replace(".localdomain", ".invalid"))
    result = CliRunner().invoke(firewall, ["-c", str(conf), "--address", "casper=192.168.0.202"])
    assert result.exit_code != 0
    assert "cannot resolve balthasar.invalid, melchior.invalid" in result.output
    assert "--address NAME=IP" in result.output


@pytest.mark.parametrize("bad", ["casper", "casper=", "casper=nowhere", "=192.168.0.1"])
def test_bad_address_overrides_are_refused(bad: str) -> None:
    result = CliRunner().invoke(firewall, ["-c", str(ARTICLE), "--address", bad])
    assert result.exit_code == 2 and "NAME=IPv4-ADDRESS" in result.output


def test_an_invalid_configuration_builds_no_rules(tmp_path: Path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text(ARTICLE.read_text().replace('nodeid="2"', 'nodeid="1"'))
    result = CliRunner().invoke(firewall, ["-c", str(conf)])
    assert result.exit_code == 1
    assert "cannot build firewall rules" in result.output and "table inet" not in result.output


def test_apply_and_iptables_do_not_mix() -> None:
    result = CliRunner().invoke(firewall, ["-c", str(ARTICLE), *ADDRESS_ARGS, "--apply", "--iptables"])
    assert result.exit_code == 2 and "--apply loads nftables rules" in result.output
