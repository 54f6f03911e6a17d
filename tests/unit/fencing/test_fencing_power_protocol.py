"""The power switch's line protocol, spoken raw: login first, one answer per line, errors never crash it."""

from __future__ import annotations

import socket
from pathlib import Path

from fencing_switch import SECRET, Switch

from quorate.testbed.ipmi import SIM_EMU, _udp_key, bmc_address, lan_conf
from quorate.testbed.power import conf_secret


def talk(switch: Switch, *lines: str) -> list[str]:
    """Send lines on one connection; collect everything the switch answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", switch.port), timeout=5) as sock:
        sock.sendall("".join(line + "\n" for line in lines).encode())
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data.decode().splitlines()


def test_login_then_commands(switch: Switch) -> None:
    assert talk(
        switch,
        f"AUTH {SECRET}",
        "STATUS casper",
        "OFF casper",
        "STATUS casper.localdomain",
        "OFF casper",
        "ON casper",
        "ON casper",
        "LIST",
        "QUIT",
        "STATUS casper",
    ) == [
        "OK",
        "ON",
        "OK",
        "OFF",
        "OK already off",
        "OK",
        "OK already on",
        "balthasar.localdomain ON",
        "casper.localdomain ON",
        "melchior.localdomain ON",
        "OK",
        "OK",  # QUIT ends the conversation: the last STATUS gets no answer
    ]


def test_a_wrong_or_missing_login_closes_the_connection(switch: Switch) -> None:
    assert talk(switch, "AUTH wrong", "OFF casper") == ["ERR authentication failed"]
    assert talk(switch, "OFF casper") == ["ERR authentication failed"]
    assert talk(switch, f"AUTH {SECRET}x") == ["ERR authentication failed"]
    assert switch.backend.calls == []


def test_errors_are_answers(switch: Switch) -> None:
    switch.backend.fail = True
    assert talk(switch, f"AUTH {SECRET}", "OFF kaspar", "DANCE casper", "", "OFF", "OFF casper", "status casper") == [
        "OK",
        "ERR unknown node 'kaspar'",
        "ERR unknown command DANCE",
        "ERR unknown command (empty)",
        "ERR OFF needs a node name",
        "ERR RuntimeError: relay stuck",
        "ON",
    ]


def test_an_overlong_line_drops_the_connection_not_the_switch(switch: Switch) -> None:
    assert talk(switch, f"AUTH {SECRET}", "STATUS " + "x" * 5000) == ["OK"]
    assert talk(switch, f"AUTH {SECRET}", "STATUS casper") == ["OK", "ON"]


def test_ipmi_sim_configuration() -> None:
    assert bmc_address(2) == "192.168.0.102"
    text = lan_conf("qt-casper", "192.168.0.102", 623, "/usr/bin/python3 -m quorate.testbed.ipmi hook", "admin", "pw")
    assert '  chassis_control "/usr/bin/python3 -m quorate.testbed.ipmi hook"' in text.splitlines()
    assert "    addr 192.168.0.102 623" in text.splitlines()
    assert '  user 2 true "admin" "pw" admin 10 none md2 md5 straight' in text.splitlines()
    assert text.count("startlan 1") == 1 and text.count("endlan") == 1
    assert "mc_enable 0x20" in SIM_EMU
    assert _udp_key("127.0.0.1", 9623) == "0100007F:2597"
    assert _udp_key("192.168.0.102", 623) == "6600A8C0:026F"


def test_the_switch_secret_comes_from_the_fence_netns_device(tmp_path: Path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text(
        '<cluster name="t" config_version="1"><fencedevices>'
        '<fencedevice name="m" agent="fence_manual"/>'
        '<fencedevice name="sw" agent="/usr/sbin/fence_netns" ipaddr="192.168.0.254" passwd="from-conf"/>'
        "</fencedevices></cluster>"
    )
    assert conf_secret(conf) == "from-conf"
    conf.write_text(
        '<cluster name="t"><fencedevices><fencedevice name="m" agent="fence_manual"/></fencedevices></cluster>'
    )
    assert conf_secret(conf) is None
    assert conf_secret(tmp_path / "missing.conf") is None
