"""`quorate demo --non-interactive` then `quorate demo down`, as a user runs them, judged on what they print.

The demo owns the testbed prefix `magi` and /var/lib/quorate-demo: it replaces a demo already running here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from quorate.testbed.netns import netns_of_prefix

QUORATE = [sys.executable, "-m", "quorate.cli.main"]
RUN = Path("/var/lib/quorate-demo")


def sections(out: str) -> dict[str, str]:
    """The demo's output cut at its `=== title` lines, keyed by the title's first words."""
    parts = re.split(r"^=== ", out, flags=re.M)
    return {part.split("\n", 1)[0]: part for part in parts[1:]}


def section(parts: dict[str, str], start: str) -> str:
    found = [text for title, text in parts.items() if title.startswith(start)]
    assert len(found) == 1, f"no single section starting {start!r} in {list(parts)}"
    return found[0]


def test_demo_builds_magi_with_its_quorum_disk_and_the_last_node_keeps_the_service(require_root: None) -> None:
    try:
        demo = subprocess.run([*QUORATE, "demo", "--non-interactive"], capture_output=True, text=True, timeout=900)
        out = demo.stdout + demo.stderr
        assert demo.returncode == 0, out
    finally:
        down = subprocess.run([*QUORATE, "demo", "down"], capture_output=True, text=True, timeout=300)
    assert down.returncode == 0 and "demo cluster magi removed" in down.stdout, down.stdout + down.stderr
    parts = sections(demo.stdout)

    # The quorum disk: created on a loop LUN by mkqdisk, found with its label by mkqdisk -L on another node.
    qdisk = section(parts, "The quorum disk")
    made = re.search(r"root@balthasar# mkqdisk -c (/dev/loop\d+) -l (magi_qdisk\S*) -y\n", qdisk)
    assert made, qdisk
    device, label = made.groups()
    listed = qdisk.split("root@casper# mkqdisk -L", 1)[1]
    assert re.search(rf"^{device}:\n\tMagic: +eb7a62c2\n\tLabel: +{label}\n", listed, flags=re.M), listed

    # The article's cman_tool status: three nodes, the disk's two votes, quorum 3; clustat shows the disk.
    status = section(parts, "cman_tool status and clustat")
    for line in ("Nodes: 3", "Expected votes: 3", "Quorum device votes: 2", "Total votes: 5", "Quorum: 3"):
        assert f"\n{line}\n" in status, status
    assert re.search(rf"^ {device} +0 Online, Quorum Disk$", status, flags=re.M), status
    assert re.search(r"^ service:test +balthasar\.localdomain +started", status, flags=re.M), status

    relocation = section(parts, "Relocation")
    assert "Trying to relocate service:test to casper.localdomain...Success" in relocation
    assert re.search(r"^ service:test +casper\.localdomain +started", relocation, flags=re.M), relocation

    crash = section(parts, "casper's daemon is killed")
    assert "fence of casper.localdomain confirmed" in crash
    assert re.search(r"^ service:test +balthasar\.localdomain +started", crash, flags=re.M), crash

    # Two nodes lost: the survivor alone has 1 + 2 = 3 votes, keeps quorum and runs the service.
    last = section(parts, "Two nodes lost at once")
    survivor = re.match(r"Two nodes lost at once: (\w+),", last)
    assert survivor, last
    name = f"{survivor.group(1)}.localdomain"
    for line in ("Nodes: 1", "Quorum device votes: 2", "Total votes: 3", "Quorum: 3"):
        assert f"\n{line}\n" in last, last
    clustat = last.split("# clustat", 1)[1]
    assert "Member Status: Quorate" in clustat
    assert re.search(rf"^ {re.escape(name)} +\d Online, Local, rgmanager$", clustat, flags=re.M), clustat
    assert len(re.findall(r"^ \S+\.localdomain +\d Offline$", clustat, flags=re.M)) == 2, clustat
    assert re.search(rf"^ {device} +0 Online, Quorum Disk$", clustat, flags=re.M), clustat
    assert re.search(rf"^ service:test +{re.escape(name)} +started", clustat, flags=re.M), clustat
    assert re.search(r"Date/Time :  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", last.split("# tail -3", 1)[1]), last

    # `quorate demo down` removed everything: namespaces, loop devices, files.
    assert netns_of_prefix("magi") == []
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True, timeout=60).stdout
    assert str(RUN) not in loops, loops
    assert not RUN.exists()
