"""The article's quorum disk under quorated: Total votes 5, Quorum 3, and the last node standing stays quorate.

The article's file with shorter timings (interval 1 s, tko 4 instead of 3 s x 20, token 5 s) so the disk
elects a master in seconds; the LUN is a loop device labelled with the real `mkqdisk`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import CMAN_TOOL, status, wait_for

ARTICLE = Path(__file__).parents[1] / "fixtures" / "article" / "cluster-1.conf"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"


@pytest.fixture
def qdisk_lun(require_root: None, tmp_path: Path) -> Iterator[str]:
    image = tmp_path / "qdisk.img"
    with open(image, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    device = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    try:
        made = subprocess.run(
            [str(Path(sys.executable).with_name("mkqdisk")), "-c", device, "-l", "magi_qdisk", "-y"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True, timeout=60)


def fast_conf(tmp_path: Path) -> Path:
    text = ARTICLE.read_text()
    text = re.sub(r'interval="3"', 'interval="1"', text)
    text = re.sub(r'tko="20"', 'tko="4"', text)
    text = text.replace("<clusternodes>", '<totem token="5000"/>\n  <clusternodes>', 1)
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    return conf


def votes(tb, node: str, total: int, quorate: bool = True):  # type: ignore[no-untyped-def]
    def probe() -> bool:
        s = status(tb, node)
        return s is not None and s["total_votes"] == total and s["quorate"] == quorate

    probe.testbed = tb  # type: ignore[attr-defined]
    return probe


def test_disk_lends_two_votes_and_keeps_the_last_node_quorate(testbed, qdisk_lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(fast_conf(tmp_path))
    for node in (B, C, M):
        wait_for(f"{node} counting the disk's votes", votes(tb, node, 5), timeout=60)
    out = tb.exec(B, [*CMAN_TOOL, "status"]).stdout
    assert "Nodes: 3\nExpected votes: 3\nQuorum device votes: 2\nTotal votes: 5\nQuorum: 3\n" in out
    nodes = tb.exec(B, [*CMAN_TOOL, "nodes"]).stdout.splitlines()
    assert nodes[1].split()[:2] == ["0", "M"] and nodes[1].endswith(qdisk_lun)
    clustat = tb.exec(B, [str(Path(sys.executable).with_name("clustat"))]).stdout
    assert f" {qdisk_lun}" in clustat and "Online, Quorum Disk" in clustat
    s = status(tb, B)
    assert s is not None and s["qdisk"]["registered"]
    master = s["qdisk"].get("master")
    assert master, f"no master on the disk: {s['qdisk']}"

    # The two others die: the survivor has 1 + 2 = 3 votes, enough for quorum 3 (the article's point).
    survivor = {1: B, 2: C, 3: M}[int(master)]
    for node in (B, C, M):
        if node != survivor:
            tb.kill(node, signal.SIGKILL)
    wait_for(f"{survivor} alone with the disk, still quorate", votes(tb, survivor, 3, True), timeout=40)
    final = status(tb, survivor)
    assert final is not None and final["node_count"] == 1 and final["quorum"] == 3 and final["qdisk_votes"] == 2
