"""The article's cluster behind `quorate firewall` with a default-drop input policy on every node.

Each node loads the rules itself (`quorate firewall --apply --policy drop`, from its own cluster.conf and
/etc/hosts) before its daemon starts (`Testbed.up(firewall="drop")`; QUORATE_TESTBED_FIREWALL=drop does the same
for any test). The cluster must then form and be quorate over multicast 224.0.0.1 as
in the article; a datagram to port 5405 from an address that is not a node must be dropped by the firewall
(its drop counter moves, the daemon never sees it) while the same datagram from a node reaches the daemon;
and fencing, which goes out to the testbed's power switch, must still work.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e_helpers import status, view_is, wait_for

from quorate.testbed.conf import switch_netns
from quorate.testbed.power import start_power_switch

ARTICLE = Path(__file__).parents[1] / "fixtures" / "article" / "cluster-1.conf"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
SECRET = "quorate-fw"
OUTSIDER = "192.168.0.250"  # on the testbed LAN, not a node
SEND = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "if sys.argv[2]: s.bind((sys.argv[2], 0))\n"
    "for _ in range(3): s.sendto(b'not a quorate datagram' * 4, (sys.argv[1], 5405))\n"
)


def cluster_conf(tmp_path: Path) -> Path:
    """The article's first file (multicast 224.0.0.1) without the quorum disk, fenced by the power switch."""
    text = ARTICLE.read_text()
    q0 = text.index("<quorumd")
    text = text[:q0] + '<totem token="5000"/>' + text[text.index("/>", q0) + 2 :]
    text = text.replace('name="manual"', 'name="switch"')
    text = text.replace('agent="fence_manual"', f'agent="fence_netns" action="off" passwd="{SECRET}"')
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    return conf


def drop_counter(tb: Any, node: str) -> int:
    rules = tb.firewall_rules(node)
    found = re.search(r"udp dport 5405 counter packets (\d+) bytes \d+ drop", rules)
    assert found, f"no counted drop rule for port 5405 on {node}:\n{rules}"
    return int(found.group(1))


def refused_by_daemon(tb: Any, node: str) -> int:
    s = status(tb, node)
    assert s is not None, f"{node}'s daemon does not answer"
    return sum(s["transport"]["dropped"].values()) + int(s["transport"]["undecodable"])


def test_cluster_forms_behind_default_drop_firewalls_and_outsiders_are_dropped(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(cluster_conf(tmp_path), firewall="drop")  # loaded on every node before its daemon starts
    for node in (B, C, M):
        rules = tb.firewall_rules(node)
        assert "policy drop;" in rules
        assert "ip saddr { 192.168.0.201, 192.168.0.202, 192.168.0.203 } udp dport 5405" in rules
    start_power_switch(tb, secret=SECRET)
    for node in (B, C, M):
        wait_for(f"{node} quorate with all three nodes", view_is(tb, node, [B, C, M], True), timeout=60)

    # Junk from a node's address passes the firewall and is refused by the daemon's authentication...
    before = refused_by_daemon(tb, B)
    sent = tb.exec(C, [sys.executable, "-c", SEND, tb.address(B), ""], timeout=30)
    assert sent.returncode == 0, sent.stderr
    wait_for("balthasar's daemon refusing casper-addressed junk", lambda: refused_by_daemon(tb, B) > before, 10)

    # ...the same junk from an address that is not a node never reaches the daemon: the firewall counts it.
    sw = switch_netns(tb.prefix)
    subprocess.run(["ip", "-n", sw, "addr", "add", f"{OUTSIDER}/24", "dev", "br0"], check=True, timeout=30)
    dropped, refused = drop_counter(tb, B), refused_by_daemon(tb, B)
    sent_out = subprocess.run(
        ["ip", "netns", "exec", sw, sys.executable, "-c", SEND, tb.address(B), OUTSIDER],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert sent_out.returncode == 0, sent_out.stderr
    wait_for("balthasar's firewall counting the outsider's datagrams", lambda: drop_counter(tb, B) >= dropped + 3, 10)
    assert refused_by_daemon(tb, B) == refused, "a datagram from a non-member reached the daemon"
    assert all(view_is(tb, node, [B, C, M], True)() for node in (B, C, M))

    # Fencing goes out through the firewall (to the power switch) and its replies come back in.
    tb.kill(M, signal.SIGKILL)
    wait_for(
        "melchior fenced through the power switch",
        lambda: "fence of melchior.localdomain confirmed" in tb.daemon_log(B) and not tb.is_powered(M),
        timeout=60,
    )
    for node in (B, C):
        wait_for(f"{node} quorate without melchior", view_is(tb, node, [B, C], True), timeout=30)
