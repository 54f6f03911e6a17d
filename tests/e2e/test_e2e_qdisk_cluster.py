"""The article's quorum disk under quorated: Total votes 5, Quorum 3, and the last node standing stays quorate.

The article's file with shorter timings (interval 1 s, tko 4 instead of 3 s x 20, token 5 s) so the disk
elects a master in seconds; the LUN is a loop device labelled with the real `mkqdisk`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import CMAN_TOOL, status, wait_for

from quorate.testbed import luns

ARTICLE = Path(__file__).parents[1] / "fixtures" / "article" / "cluster-1.conf"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"


@pytest.fixture
def qdisk_lun(require_root: None, tmp_path: Path) -> Iterator[str]:
    device = luns.attach_image(tmp_path / "qdisk.img", 16)
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
        luns.detach(device)


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


def sides(tb, left: list[str], right: list[str]):  # type: ignore[no-untyped-def]
    """(left side quorate with the disk, right side quorate with the disk), from each side's first node."""
    a, b = status(tb, left[0]), status(tb, right[0])
    return (a is not None and a["quorate"], b is not None and b["quorate"]), (a, b)


def test_partition_two_one_only_one_side_counts_the_disk(testbed, qdisk_lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(fast_conf(tmp_path))
    for node in (B, C, M):
        wait_for(f"{node} counting the disk's votes", votes(tb, node, 5), timeout=60)
    tb.partition([B], [C, M])
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:  # S4 at every sample: never both sides quorate
        (left, right), (doc_b, doc_c) = sides(tb, [B], [C, M])
        split = doc_b is not None and doc_c is not None and not set(doc_b["members"]) & set(doc_c["members"])
        assert not (left and right and split), f"two disjoint views both quorate: {doc_b} / {doc_c}"
        seen.append((left, right) if split else (None, None))
        if seen[-3:] == [(False, True)] * 3:
            break
    # Whichever side held the disk's master, the larger side ends up with the disk (D-21).
    wait_for("casper and melchior quorate with the disk", votes(tb, C, 4, True), timeout=60)
    (left, right), (doc_b, doc_c) = sides(tb, [B], [C, M])
    assert right and not left, f"the larger side must keep quorum: {doc_b} / {doc_c}"
    assert doc_b is not None and doc_c is not None
    assert doc_c["qdisk_votes"] == 2 and doc_b["qdisk_votes"] == 0, (doc_b, doc_c)
    assert int(doc_c["qdisk"]["master"]) in doc_c["members"], doc_c["qdisk"]
    tb.heal()
    for node in (B, C, M):
        wait_for(f"{node} back with the disk's votes", votes(tb, node, 5), timeout=120)


def test_failing_heuristic_takes_the_disk_votes_from_that_node_only(testbed, qdisk_lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = fast_conf(tmp_path)
    text = conf.read_text()
    text = re.sub(
        r"<quorumd\s([^>]*?)/>",
        r'<quorumd \1 reboot="0"><heuristic program="test -e /run/quorate-ok" score="1" interval="1" tko="2"/>'
        "</quorumd>",
        text,
    )
    conf.write_text(text)
    tb = testbed(conf)
    for node in (B, C, M):
        assert tb.exec(node, ["touch", "/run/quorate-ok"]).returncode == 0
    for node in (B, C, M):
        wait_for(f"{node} counting the disk's votes", votes(tb, node, 5), timeout=60)
    assert tb.exec(C, ["rm", "/run/quorate-ok"]).returncode == 0
    wait_for("casper without the disk's votes", votes(tb, C, 3), timeout=30)
    assert "Score insufficient for master operation" in tb.daemon_log(C)
    for node in (B, M):
        doc = status(tb, node)
        assert doc is not None and doc["total_votes"] == 5 and doc["qdisk_votes"] == 2, doc
    assert tb.daemon_running(C)  # reboot="0": it only withdrew its vote advertisement
    assert tb.exec(C, ["touch", "/run/quorate-ok"]).returncode == 0
    wait_for("casper counting the disk again", votes(tb, C, 5), timeout=60)


def test_lun_that_fails_and_comes_back(testbed, qdisk_lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The loop device's backing file is cut to nothing (reads return no data, writes ENOSPC), then restored:
    every node loses the disk's votes, says why, keeps its heartbeats (the view stays whole and quorate with
    its 3 node votes), and counts the disk again once it is back."""
    tb = testbed(fast_conf(tmp_path))
    for node in (B, C, M):
        wait_for(f"{node} counting the disk's votes", votes(tb, node, 5), timeout=60)
    image = tmp_path / "qdisk.img"
    saved = image.read_bytes()
    image.write_bytes(b"")
    subprocess.run(["losetup", "-c", qdisk_lun], check=True, timeout=30)
    try:
        for node in (B, C, M):
            wait_for(f"{node} without the disk's votes", votes(tb, node, 3), timeout=60)
        doc = status(tb, B)
        assert doc is not None and len(doc["members"]) == 3 and doc["qdisk"]["io"]["last_error"], doc["qdisk"]
    finally:
        image.write_bytes(saved)
        subprocess.run(["losetup", "-c", qdisk_lun], check=True, timeout=30)
    for node in (B, C, M):
        wait_for(f"{node} counting the disk again", votes(tb, node, 5), timeout=120)


def push(tb, node: str, text: str, version: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``ccs_tool update`` of ``text`` at ``version``, typed on ``node``; the push must succeed."""
    path = tmp_path / f"cluster-{version}.conf"
    path.write_text(re.sub(r'config_version="\d+"', f'config_version="{version}"', text, count=1))
    done = tb.exec(node, [sys.executable, "-m", "quorate.cli.ccs_tool", "update", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_quorum_disk_settings_change_without_restarting_quorated(testbed, qdisk_lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = fast_conf(tmp_path)
    text = conf.read_text().replace("\xa0", " ")  # the article's non-breaking spaces, so that edits can match
    conf.write_text(text)
    assert 'config_version="1"' in text and 'tko="4" votes="2"' in text
    tb = testbed(conf)
    for node in (B, C, M):
        wait_for(f"{node} counting the disk's votes", votes(tb, node, 5), timeout=60)
    daemons = {node: tb.daemon_pid(node) for node in (B, C, M)}

    # tko is read only at start: the disk service restarts inside each daemon, with a new incarnation. The nodes'
    # own votes (3) reach quorum (3), so the cluster stays quorate while the disk's votes are granted again.
    incarnation = (status(tb, M) or {})["qdisk"].get("incarnation")
    text = text.replace('tko="4"', 'tko="5"')
    push(tb, B, text, 2, tmp_path)
    for node in (B, C, M):
        wait_for(
            f"{node} restarting its disk service",
            lambda n=node: "quorum disk settings changed (tko): restarting the quorum disk service" in tb.daemon_log(n),
            timeout=30,
        )
    for node in (B, C, M):
        wait_for(f"{node} counting the disk's votes again", votes(tb, node, 5), timeout=60)
    after = status(tb, M)
    assert after is not None and after["qdisk"].get("incarnation") not in (None, incarnation)

    # votes is one of the settings qdiskd re-reads: the running disk service takes it at its next cycle.
    text = text.replace('votes="2"', 'votes="3"')
    push(tb, C, text, 3, tmp_path)
    for node in (B, C, M):
        wait_for(f"{node} counting the disk's 3 votes", votes(tb, node, 6), timeout=30)
    log = tb.daemon_log(B)
    assert "quorum disk settings changed (votes 2 -> 3): applied to the running disk service" in log
    assert log.count("restarting the quorum disk service") == 1
    assert {node: tb.daemon_pid(node) for node in (B, C, M)} == daemons, "a daemon restarted"

    # Back to 2 votes: the quorum the 3 votes had raised to 4 comes down to 3 again (a pushed file may lower it).
    text = text.replace('votes="3"', 'votes="2"')
    push(tb, B, text, 4, tmp_path)
    for node in (B, C, M):
        wait_for(
            f"{node} at 5 votes, quorum 3",
            lambda n=node: (d := status(tb, n)) and (d["total_votes"], d["quorum"]) == (5, 3),
            timeout=30,
        )

    # Two nodes gone: the survivor's quorum rests on the disk, so a restart-only change waits for the next start.
    master = int((status(tb, B) or {})["qdisk"]["master"])
    survivor = {1: B, 2: C, 3: M}[master]
    for node in (B, C, M):
        if node != survivor:
            tb.kill(node, signal.SIGKILL)
    wait_for(f"{survivor} alone with the disk, still quorate", votes(tb, survivor, 3, True), timeout=60)
    push(tb, survivor, text.replace('tko="5"', 'tko="6"'), 5, tmp_path)
    wait_for(
        "the survivor to defer the restart",
        lambda: (
            "take effect when quorated restarts; restarting the disk service now would cost this partition "
            "its quorum" in tb.daemon_log(survivor)
        ),
        timeout=30,
    )
    time.sleep(3)  # several disk cycles: the votes stay and the survivor stays quorate
    last = status(tb, survivor)
    assert last is not None and last["quorate"] and last["qdisk_votes"] == 2 and last["config_version"] == 5
