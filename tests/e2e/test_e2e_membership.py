"""Membership and quorum on real UDP between network namespaces, with the article's cluster.conf.

The article's file sets no <totem token>, so the token is cman's default 10 s: evictions are expected after
10 s of silence, and a test allows a generous margin on top for a loaded CI machine.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from e2e_helpers import CMAN_TOOL, members, status, view_is, wait_for

ARTICLE = Path(__file__).parents[1] / "fixtures" / "article" / "cluster-1.conf"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
ALL = [B, C, M]
TOKEN = 10.0
MARGIN = 8.0


def test_three_nodes_form_one_quorate_view_and_cman_tool_shows_it(testbed) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(ARTICLE)
    for node in ALL:
        wait_for(f"{node} in a quorate view of all three", view_is(tb, node, ALL, True), timeout=20)
    generations = {status(tb, n)["generation"] for n in ALL}  # type: ignore[index]
    assert len(generations) == 1, "all nodes must run the same view generation"
    out = tb.exec(B, [*CMAN_TOOL, "status"]).stdout
    assert "Cluster Name: magi\nCluster Id: 1571\nCluster Member: Yes\n" in out
    assert "Membership state: Cluster-Member\nNodes: 3\nExpected votes: 3\nTotal votes: 3\nQuorum: 2\n" in out
    assert "Node name: balthasar.localdomain\nNode ID: 1\nMulticast addresses: 224.0.0.1\n" in out
    assert "Node addresses: 192.168.0.201\n" in out
    nodes = tb.exec(C, [*CMAN_TOOL, "nodes"]).stdout.splitlines()
    assert nodes[0] == "Node  Sts   Inc   Joined               Name"
    assert [line.split()[1] for line in nodes[1:]] == ["M", "M", "M"]
    assert nodes[3].endswith("melchior.localdomain")


def test_killed_node_is_evicted_after_the_token_and_the_pair_stays_quorate(testbed) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(ARTICLE)
    for node in ALL:
        wait_for(f"{node} in the full view", view_is(tb, node, ALL, True), timeout=20)
    killed = time.monotonic()
    tb.kill(M, signal.SIGKILL)
    time.sleep(TOKEN * 0.5)
    assert members(tb, B) == (ALL, True), "evicted long before the token expired"
    wait_for("melchior evicted on balthasar", view_is(tb, B, [B, C], True), timeout=TOKEN + MARGIN)
    elapsed = time.monotonic() - killed
    assert elapsed <= TOKEN + MARGIN
    wait_for("melchior evicted on casper", view_is(tb, C, [B, C], True), timeout=5)
    s = status(tb, B)
    assert s is not None and s["quorate"] and s["total_votes"] == 2 and s["quorum"] == 2
    assert "failed: {melchior.localdomain}" in "\n".join(s["log"])
    out = tb.exec(B, [*CMAN_TOOL, "nodes"]).stdout.splitlines()
    assert out[3].split()[1] == "X"


def test_two_killed_leave_the_survivor_inquorate(testbed) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(ARTICLE)
    for node in ALL:
        wait_for(f"{node} in the full view", view_is(tb, node, ALL, True), timeout=20)
    tb.kill(C, signal.SIGKILL)
    tb.kill(M, signal.SIGKILL)
    wait_for("balthasar alone and inquorate", view_is(tb, B, [B], False), timeout=TOKEN + MARGIN)
    out = tb.exec(B, [*CMAN_TOOL, "status"]).stdout
    assert "Total votes: 1\nQuorum: 2  Activity blocked\n" in out
    log = tb.daemon_log(B)
    assert "quorum lost, blocking activity" in log


def test_partition_two_one_only_the_pair_is_quorate_and_heal_merges(testbed) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(ARTICLE)
    for node in ALL:
        wait_for(f"{node} in the full view", view_is(tb, node, ALL, True), timeout=20)
    tb.partition([B], [C, M])
    wait_for("casper and melchior quorate together", view_is(tb, C, [C, M], True), timeout=TOKEN + MARGIN)
    wait_for("balthasar alone, inquorate", view_is(tb, B, [B], False), timeout=TOKEN + MARGIN)
    assert members(tb, M) == ([C, M], True)
    tb.heal()
    # A node lost while both processes lived must be heard for two tokens before it is readmitted.
    for node in ALL:
        wait_for(f"{node} back in one view", view_is(tb, node, ALL, True), timeout=2 * TOKEN + 3 * TOKEN + MARGIN)


def test_one_way_partition_converges_to_one_view_without_flapping(testbed) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(ARTICLE)
    for node in ALL:
        wait_for(f"{node} in the full view", view_is(tb, node, ALL, True), timeout=20)
    tb.one_way(M, B)  # balthasar stops hearing melchior; melchior still hears balthasar
    wait_for("balthasar and casper without melchior", view_is(tb, B, [B, C], True), timeout=TOKEN + MARGIN)
    wait_for("casper agrees", view_is(tb, C, [B, C], True), timeout=5)
    generation = status(tb, B)["generation"]  # type: ignore[index]
    time.sleep(TOKEN)
    assert status(tb, B)["generation"] == generation, "views kept changing under a steady one-way fault"  # type: ignore[index]
    assert members(tb, M) is not None and members(tb, M)[1] is False  # type: ignore[index]
    tb.heal()
    for node in ALL:
        wait_for(f"{node} back in one view", view_is(tb, node, ALL, True), timeout=5 * TOKEN + MARGIN)


FORGE = r"""
import json, os, socket, sys
from quorate.node.wire import WireCodec
from quorate.core.messages import Heartbeat, NO_VIEW, encode
state = json.load(open("/var/lib/quorate/state.json"))
hb = Heartbeat(boot=1, number=1, incarnation=0, hears=(), view=NO_VIEW, members=(), promised=NO_VIEW, expected=3,
               config_version=1, config_digest="", flags=0)
forged = WireCodec(os.urandom(64), 1571, 2, state["boot_epoch"], {1, 2, 3}).seal(encode(hb))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(forged, ("192.168.0.201", 5405))
print("sent")
"""

CAPTURE_AND_REPLAY = r"""
import socket, struct, sys, time
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
raw.bind(("eth0", 0))
raw.settimeout(15)
while True:
    frame = raw.recv(65535)
    if frame[12:14] != b"\x08\x00" or frame[23] != 17:
        continue
    ihl = (frame[14] & 0x0F) * 4
    src = socket.inet_ntoa(frame[26:30])
    udp = frame[14 + ihl:]
    dport = struct.unpack(">H", udp[2:4])[0]
    if src == "192.168.0.202" and dport == 5405:
        payload = udp[8:]
        break
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
time.sleep(0.5)
s.sendto(payload, ("192.168.0.201", 5405))
print("replayed", len(payload))
"""


def test_forged_and_replayed_datagrams_are_dropped_and_counted(testbed) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(ARTICLE)
    for node in ALL:
        wait_for(f"{node} in the full view", view_is(tb, node, ALL, True), timeout=20)
    before = status(tb, B)["transport"]["dropped"]  # type: ignore[index]
    forged = tb.exec(C, [sys.executable, "-c", FORGE], timeout=20)
    assert forged.returncode == 0, forged.stderr
    replay = tb.exec(B, [sys.executable, "-c", CAPTURE_AND_REPLAY], timeout=30)
    assert replay.returncode == 0, replay.stderr

    def counted() -> dict[str, int] | None:
        dropped: dict[str, int] = status(tb, B)["transport"]["dropped"]  # type: ignore[index]
        ok = dropped.get("auth_failed", 0) > before.get("auth_failed", 0) and dropped.get("replay", 0) > before.get(
            "replay", 0
        )
        return dropped if ok else None

    dropped = wait_for("the forged and the replayed datagram counted", counted, timeout=10)
    assert dropped["auth_failed"] >= 1 and dropped["replay"] >= 1
    # Nothing changed for the cluster: still one quorate view of three.
    assert members(tb, B) == (ALL, True)
    human = tb.exec(B, [sys.executable, "-m", "quorate.cli.main", "status"]).stdout
    assert "auth_failed" in human and "replay" in human
    json.dumps(dropped)
