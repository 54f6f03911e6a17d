"""fence_netns as fenced or Pacemaker run it (a subprocess reading stdin), against the switch on loopback."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fencing_samples import config_with, device
from fencing_switch import Switch
from lxml import etree

from quorate.agents.fence_netns import KNOWN, parse_stdin
from quorate.node.fence_exec import fence_once

AGENT = [sys.executable, "-m", "quorate.agents.fence_netns"]


def agent(stdin: str = "", *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENT, *argv], input=stdin, capture_output=True, text=True, timeout=30, check=False)


def test_status_off_on_reboot_with_verified_states(switch: Switch) -> None:
    done = agent(switch.stdin(action="status", nodename="casper.localdomain"))
    assert (done.returncode, done.stdout) == (0, "Status: ON\n")
    done = agent(switch.stdin(action="off", nodename="casper.localdomain"))
    assert (done.returncode, done.stdout) == (0, "Success: Powered OFF\n")
    assert switch.backend.power["casper.localdomain"] is False
    done = agent(switch.stdin(action="status", port="casper"))  # a short name as the plug
    assert (done.returncode, done.stdout) == (2, "Status: OFF\n")
    done = agent(switch.stdin(action="off", nodename="casper.localdomain"))
    assert (done.returncode, done.stdout) == (0, "Success: Already OFF\n")
    done = agent(switch.stdin(action="on", nodename="casper.localdomain"))
    assert (done.returncode, done.stdout) == (0, "Success: Powered ON\n")
    done = agent(switch.stdin(nodename="melchior.localdomain"))  # default action: reboot
    assert (done.returncode, done.stdout) == (0, "Success: Rebooted\n")
    assert switch.backend.calls == [
        "OFF casper.localdomain",
        "ON casper.localdomain",
        "OFF melchior.localdomain",
        "ON melchior.localdomain",
    ]


def test_list_monitor_and_command_line_mode(switch: Switch) -> None:
    done = agent(switch.stdin(action="list"))
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "balthasar.localdomain,balthasar",
        "casper.localdomain,casper",
        "melchior.localdomain,melchior",
    ]
    assert agent(switch.stdin(action="monitor")).returncode == 0
    done = agent("", "-o", "status", "-n", "balthasar", "-a", "127.0.0.1", "-u", str(switch.port), "-p", switch.secret)
    assert (done.returncode, done.stdout) == (0, "Status: ON\n")


def test_deprecated_option_quotes_comments_and_unknown_names(switch: Switch) -> None:
    text = "# fenced writes no comments, people do\n\n" + switch.stdin(nodename="casper") + 'option="off"\nfoo=bar\n'
    done = agent(text)
    assert done.returncode == 0 and done.stdout == "Success: Powered OFF\n"
    assert "Ignoring unknown option 'foo'" in done.stderr and "bar" not in done.stderr


def test_failures_exit_1(switch: Switch) -> None:
    wrong = agent(switch.stdin(action="off", nodename="casper", passwd="nope"))
    assert wrong.returncode == 1 and "refused the login" in wrong.stderr
    assert switch.backend.power["casper.localdomain"] is True
    unknown = agent(switch.stdin(action="status", nodename="kaspar"))
    assert unknown.returncode == 1 and "unknown node 'kaspar'" in unknown.stderr
    assert agent(switch.stdin(action="status")).returncode == 1  # no plug, no nodename
    assert agent(switch.stdin(action="dance", nodename="casper")).returncode == 1
    no_password = "".join(
        line + "\n"
        for line in switch.stdin(action="status", nodename="casper").splitlines()
        if not line.startswith("passwd=")
    )
    assert "fence password" in agent(no_password).stderr
    switch.backend.fail = True
    stuck = agent(switch.stdin(action="off", nodename="casper"))
    assert stuck.returncode == 1 and "relay stuck" in stuck.stderr


def test_an_unreachable_switch_is_a_failure() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = agent(f"ipaddr=127.0.0.1\nipport={port}\npasswd=x\naction=off\nnodename=casper\n")
    assert done.returncode == 1 and "Unable to connect" in done.stderr


def test_metadata_is_fence_agent_xml() -> None:
    for text in ("action=metadata\n", "action=meta-data\n"):
        done = agent(text)
        assert done.returncode == 0
        root = etree.fromstring(done.stdout.encode())
        assert root.tag == "resource-agent" and root.get("name") == "fence_netns"
        params = {p.get("name"): p for p in root.iter("parameter")}
        assert {"action", "ipaddr", "ipport", "passwd", "port", "login", "nodename"} <= set(params)
        assert params["passwd"].get("required") == "1"
        assert params["ipport"].find("content").get("default") == "1623"
        actions = {a.get("name") for a in root.iter("action")}
        assert {"on", "off", "reboot", "status", "monitor", "list", "metadata"} <= actions


def test_metadata_shape_matches_debian_agents() -> None:
    """The same elements and attributes as a fence-agents program's metadata (fence_dummy ships with Debian)."""
    dummy = shutil.which("fence_dummy") or "/usr/sbin/fence_dummy"
    if not Path(dummy).exists():
        pytest.fail("fence-agents is not installed (scripts/setup.sh installs it)")
    theirs = etree.fromstring(subprocess.run([dummy, "-o", "metadata"], capture_output=True, timeout=30).stdout)
    ours = etree.fromstring(agent("action=metadata\n").stdout.encode())

    def shape(root: etree._Element) -> set[tuple[str, str]]:
        return {
            (el.getparent().tag if el.getparent() is not None else "", el.tag)
            for el in root.iter()
            if isinstance(el.tag, str)
        }

    assert shape(ours) <= shape(theirs)


def test_stdin_parser_rules() -> None:
    warnings: list[str] = []
    parsed = parse_stdin(
        ' ipaddr = 10.0.0.1 \nplug=a\nport=b\npassword="x y"\nIP-PORT=1\nnonsense\n', KNOWN, warnings.append
    )
    assert parsed == {"ipaddr": "10.0.0.1", "port": "b", "passwd": "x y"}
    assert warnings == [
        "Parse error: Ignoring unknown option 'IP-PORT'",
        "Parse error: Ignoring unknown option 'nonsense'",
    ]


def test_fence_exec_drives_fence_netns(switch: Switch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor, the agent and the switch together, with the agent found on PATH by its name."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fence_netns").write_text(f"#!/bin/sh\nexec {sys.executable} -m quorate.agents.fence_netns\n")
    (bin_dir / "fence_netns").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    config = config_with(
        {"casper": '<method name="netns"><device name="sw" port="casper"/></method>'},
        device("sw", "fence_netns", ipaddr="127.0.0.1", ipport=str(switch.port), passwd=switch.secret),
        nodes=("a", "b", "casper"),
    )
    outcome = asyncio.run(fence_once(config, "casper", action="off"))
    assert outcome.success, outcome.reason
    assert outcome.reason.startswith("fenced casper.example with method netns (fence_netns, ")
    assert switch.backend.power["casper.localdomain"] is False


def test_a_fence_loads_only_what_it_needs(switch: Switch) -> None:
    """The agent runs between a node's eviction and the takeover of its services: it must not load modules
    that cost a fence tens of milliseconds on a busy node (`socket` pulls in enum and selectors, a str host
    name the idna codec, `typing`, `collections`, argparse for stdin options)."""
    heavy = ("socket", "enum", "selectors", "encodings.idna", "typing", "collections", "argparse", "subprocess")
    probe = (
        "import atexit, sys; "
        f"atexit.register(lambda: print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)); "
        "from quorate.agents.fence_netns import main; sys.exit(main())"
    )
    stdin = switch.stdin(action="off", nodename="casper.localdomain")
    done = subprocess.run([sys.executable, "-c", probe], input=stdin, capture_output=True, text=True, timeout=30,
                          check=False)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "Success: Powered OFF\n")
    assert done.stderr.strip() == "[]"
