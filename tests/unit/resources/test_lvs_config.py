"""``<lvs>`` and ``<realserver>`` in cluster.conf: accepted in a service, built into its tree, bad values located."""

from __future__ import annotations

import pytest

from quorate.config import ConfigError, parse_config
from quorate.config.rgtree import build_trees

HEAD = """<?xml version="1.0"?>
<cluster name="magi" config_version="7">
  <clusternodes>
    <clusternode name="192.168.0.201" nodeid="1"/>
    <clusternode name="b" nodeid="2"><altname name="10.9.9.2"/></clusternode>
  </clusternodes>
  <rm>
"""
TAIL = """  </rm>
</cluster>
"""


def lvs(name: str, port: str, row: str) -> str:
    head = f'      <lvs name="{name}" address="192.168.0.160" port="{port}">\n'
    return head + f'        <realserver address="{row}"/>\n      </lvs>\n'


GOOD_ROWS = """
        <realserver address="192.168.0.201" port="80" weight="2"/>
        <realserver address="192.168.0.202" port="80"/>
"""


def conf(lvs_attrs: str = "", rows: str = GOOD_ROWS, extra: str = "") -> str:
    return (
        HEAD
        + '    <service name="lb">\n      <ip address="192.168.0.160/24"/>\n'
        + f'      <lvs name="web" address="192.168.0.160" port="80" {lvs_attrs}>{rows}      </lvs>\n'
        + extra
        + "    </service>\n"
        + TAIL
    )


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.conf")
    return [str(p) for p in info.value.errors]


def test_a_virtual_service_loads_into_the_tree_after_its_address() -> None:
    cfg = parse_config(conf('scheduler="wrr" check="http" path="/" expect="200" interval="2" rise="2" fall="3"'))
    tree = build_trees(cfg)["lb"]
    assert tree.errors == ()
    assert [(n.type, n.primary) for n in tree.start_order()] == [
        ("service", "lb"),
        ("ip", "192.168.0.160/24"),
        ("lvs", "web"),
        ("realserver", "192.168.0.201"),
        ("realserver", "192.168.0.202"),
    ]
    lvs = tree.find("lvs", "web")
    assert lvs is not None and lvs.get("fall") == "3" and lvs.get("timeout") == "1" and lvs.get("protocol") == "tcp"
    assert [c.get("weight") for c in lvs.children] == ["2", "1"]


def test_one_host_may_serve_two_virtual_services() -> None:
    parse_config(conf(extra=lvs("tls", "443", "192.168.0.201")))


def test_a_udp_service_is_checked_by_a_script() -> None:
    text = conf('protocol="udp" port="53" check="script" script="/usr/local/bin/dig-ok"')
    parse_config(text.replace('port="80" ', "", 1))


@pytest.mark.parametrize(
    ("attrs", "rows", "where", "says"),
    [
        ('scheduler="lc"', GOOD_ROWS, "lvs[1][@scheduler]", "unknown scheduler 'lc'"),
        ('check="ping"', GOOD_ROWS, "lvs[1][@check]", "unknown check 'ping'"),
        ('check="script"', GOOD_ROWS, "lvs[1][@script]", "needs script= with an absolute path"),
        ('check="script" script="ok.sh"', GOOD_ROWS, "lvs[1][@script]", "not 'ok.sh'"),
        ('protocol="sctp"', GOOD_ROWS, "lvs[1][@protocol]", "unknown protocol 'sctp'"),
        ('protocol="udp"', GOOD_ROWS, "lvs[1][@check]", "check='tcp' opens TCP connections"),
        ('persistence="-1"', GOOD_ROWS, "lvs[1][@persistence]", "not a whole number"),
        ('expect="ok"', GOOD_ROWS, "lvs[1][@expect]", "not an HTTP status"),
        ("", '<realserver address="192.168.0.301"/>', "lvs[1]/realserver[1][@address]", "is not an IP address"),
        ("", '<realserver address="fd00:5a::201"/>', "lvs[1]/realserver[1][@address]", "is IPv6 and the virtual"),
        ("", '<realserver address="192.168.0.201" port="70000"/>', "lvs[1]/realserver[1][@port]", "'70000' is not"),
        ("", '<realserver address="192.168.0.201" port="0"/>', "lvs[1]/realserver[1][@port]", "'0' is not a port"),
        (
            "",
            '<realserver address="192.168.0.201" weight="0"/><realserver address="192.168.0.202" weight="0"/>',
            "lvs[1]:",
            "every real server has weight 0",
        ),
        (
            "",
            '<realserver address="192.168.0.201"/><realserver address="192.168.0.201"/>',
            "lvs[1]/realserver[2][@address]",
            "already listed",
        ),
        ("", "", "lvs[1]:", "has no <realserver>"),
    ],
)
def test_bad_values_are_located(attrs: str, rows: str, where: str, says: str) -> None:
    found = errors(conf(attrs, rows))
    assert any(f"/cluster/rm/service[1]/{where}" in e and says in e for e in found), found


def test_the_virtual_port_must_be_a_port() -> None:
    found = errors(conf().replace('port="80" >', 'port="http" >'))
    assert any("lvs[1][@port]" in e and "'http' is not a port number" in e for e in found), found


@pytest.mark.parametrize(("vip", "node"), [("192.168.0.201", "192.168.0.201"), ("10.9.9.2", "b")])
def test_a_node_address_cannot_be_the_virtual_address(vip: str, node: str) -> None:
    text = conf().replace('<ip address="192.168.0.160/24"/>', "").replace('address="192.168.0.160"', f'address="{vip}"')
    found = errors(text)
    assert any(f"the virtual address {vip} belongs to node '{node}'" in e and "lvs[1][@address]" in e
               for e in found), found


def test_two_virtual_services_on_one_address_and_port_collide() -> None:
    found = errors(conf(extra=lvs("again", "80", "192.168.0.9")))
    assert any("lvs[2][@address]" in e and "tcp 192.168.0.160:80 is already balanced by" in e for e in found), found


def test_a_realserver_outside_an_lvs_is_refused() -> None:
    found = errors(conf(extra='      <realserver address="192.168.0.9"/>\n'))
    assert any("service[1]/realserver[1]" in e and "belongs inside an <lvs>" in e for e in found), found


V6 = """
        <realserver address="fd00:5a::201" port="80" weight="2"/>
        <realserver address="fd00:5a:0::202"/>
"""


def v6_conf(rows: str = V6) -> str:
    return (
        conf(rows=rows)
        .replace('<ip address="192.168.0.160/24"/>', '<ip address="fd00:5a::160/64"/>')
        .replace('address="192.168.0.160"', 'address="fd00:5a::160"')
    )


def test_an_ipv6_virtual_service_over_ipv6_real_servers_loads() -> None:
    tree = build_trees(parse_config(v6_conf()))["lb"]
    lvs = tree.find("lvs", "web")
    assert lvs is not None and lvs.get("address") == "fd00:5a::160"
    assert [c.get("address") for c in lvs.children] == ["fd00:5a::201", "fd00:5a:0::202"]


def test_ipv6_real_servers_are_compared_as_addresses_and_families_are_not_mixed() -> None:
    twice = V6 + '        <realserver address="FD00:5A::202"/>\n'
    found = errors(v6_conf(twice))
    assert any("lvs[1]/realserver[3][@address]" in e and "real server fd00:5a::202 is already listed" in e
               for e in found), found
    found = errors(v6_conf(V6 + '        <realserver address="192.168.0.203"/>\n'))
    assert any("lvs[1]/realserver[3][@address]" in e and "192.168.0.203 is IPv4 and the virtual address fd00:5a::160"
               " IPv6" in e for e in found), found


def test_a_referenced_virtual_service_checks_its_rows_against_the_defined_address() -> None:
    text = (
        HEAD
        + '    <resources><lvs name="web" address="fd00:5a::160" port="80"/></resources>\n'
        + '    <service name="lb">\n      <lvs ref="web"><realserver address="192.168.0.201"/></lvs>\n'
        + "    </service>\n"
        + TAIL
    )
    found = errors(text)
    assert any("realserver[1][@address]" in e and "is IPv4 and the virtual address fd00:5a::160 IPv6" in e
               for e in found), found
