"""Load balancing with ``<lvs>``: three Apache real servers behind one virtual address, the director failing over.

The cluster is `quorate.testbed.lvs`'s: every node runs its own Apache on its own address (started by the test,
outside the cluster), and the service ``lvs`` holds the virtual address 192.168.0.160 with two virtual services
over the three nodes: ``web`` on port 80 (round robin, HTTP checks) and ``weighted`` on port 8080 (weights 2:1:1,
TCP checks), both checked every 2 s with rise 2 and fall 2. A client host (192.168.0.100) talks to the virtual
address only.

What a user or an administrator would see, checked in one run:

* 300 requests to port 80 are all answered, each node within 10 % of a third; 400 requests to port 8080 are
  shared 2:1:1 within 10 %;
* ``quorate lvs`` on the director lists both virtual services with their real servers up; on another member it
  names the director;
* Apache stopped on one real server: the director logs that it leaves, within interval x fall (+ the check's
  timeout and slack), and from then on no client request fails or reaches it; started again, it is back in
  rotation after rise checks;
* the director powered off: it is fenced, the service (address and rules) starts on another node, and the
  client is served again within the token plus a few seconds; at no sample did two nodes carry the virtual
  address.

The same farm over IPv6 (virtual address fd00:5a::160, the nodes' fd00:5a::201-203, the client fd00:5a::100):
requests shared evenly, ``quorate lvs`` in ipvsadm's bracketed layout, and the director powered off: the heir
takes the address and the rules and announces the address (unsolicited neighbour advertisements), so the
client, which had the old director's MAC in its neighbour cache, is served again within the token plus a few
seconds, not after its neighbour entry times out.

The measured windows are printed (``pytest -s``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from quorate.testbed import Testbed, webdb
from quorate.testbed import lvs as farm_bed
from quorate.testbed.lvs import FALL, INTERVAL, NODES, RISE, TIMEOUT, VIP, VIP6, WEIGHTS, Farm, burst, carries, holders
from quorate.testbed.power import start_power_switch
from quorate.testbed.webdb_drive import wait_until

pytestmark = pytest.mark.timeout(300)

SECRET = "quorate-e2e-lvs"
TOKEN_MS = 3000
CLIENT, CLIENT_ADDRESS = "client", "192.168.0.100"
SLACK = 3.0


def short(node: str) -> str:
    return node.split(".")[0]


def owner(tb: Testbed, observers: list[str]) -> str | None:
    seen = webdb.services(tb, observers)
    if seen is None or seen.get("lvs", ("", ""))[0] != "started":
        return None
    return seen["lvs"][1] or None


class VipWatch:
    """Who carries the virtual address, sampled every 0.2 s on every powered node."""

    def __init__(self, tb: Testbed, vip: str = VIP) -> None:
        self.vip = vip
        # Resolved once: the thread then runs only ``ip -n``, never touching the Testbed the test thread uses.
        self.namespaces = {node: tb.netns(node) for node in tb.nodes}
        self.samples: list[tuple[float, list[str]]] = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                held = [n for n, ns in self.namespaces.items() if carries(ns, self.vip)]
                self.samples.append((time.time(), held))
            except Exception:  # a node being powered off between two looks: the next sample counts
                pass
            self.stop_flag.wait(0.2)

    def __enter__(self) -> VipWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=10)


def shares(answers: list[dict[str, Any]]) -> Counter[str]:
    failed = [a for a in answers if not a["ok"]]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed, first: {failed[0]}"
    return Counter(a["node"] for a in answers)


def test_balance_health_checks_and_director_failover(testbed: Any, tmp_path: Path) -> None:
    import os

    if not os.access(farm_bed.APACHE, os.X_OK):
        pytest.fail(f"{farm_bed.APACHE} is missing (Debian package apache2)", pytrace=False)
    conf = tmp_path / "cluster.conf"
    conf.write_text(farm_bed.cluster_conf(fence_secret=SECRET, token_ms=TOKEN_MS))
    tb: Testbed = testbed(conf)
    farm = Farm(tb)
    try:
        for node in NODES:
            farm.start(node)
        start_power_switch(tb, secret=SECRET)
        tb.add_client(CLIENT, CLIENT_ADDRESS)
        with VipWatch(tb) as watch:
            scenario(tb, farm, tmp_path)
        doubled = [(t, h) for t, h in watch.samples if len(h) > 1]
        assert not doubled, f"two nodes carried {VIP} at once: {doubled[:3]}"
        assert len(watch.samples) > 20
    finally:
        farm.close()
        (tmp_path / "logs").mkdir(exist_ok=True)
        for node in tb.nodes:
            (tmp_path / "logs" / f"{node}.log").write_text(tb.daemon_log(node))


def scenario(tb: Testbed, farm: Farm, tmp_path: Path) -> None:
    director = wait_until("service lvs started", lambda: owner(tb, list(NODES)), 120)
    wait_until("the client served on both ports",
               lambda: all(burst(tb, CLIENT, p, 3)[-1]["ok"] for p in (80, 8080)), 60)  # fmt: skip
    wait_until("every real server in rotation", lambda: len(shares(burst(tb, CLIENT, 80, 6))) == 3, 30)

    # Shares: equal weights on port 80, 2:1:1 on port 8080.
    even = shares(burst(tb, CLIENT, 80, 300))
    assert set(even) == {short(n) for n in NODES}
    for node in NODES:
        assert abs(even[short(node)] - 100) <= 10, even
    weighted = shares(burst(tb, CLIENT, 8080, 400))
    for node in NODES:
        expected = 400 * WEIGHTS[node] / sum(WEIGHTS.values())
        assert abs(weighted[short(node)] - expected) <= 0.1 * expected, weighted
    print(f"\nshares: port 80 {dict(even)}, port 8080 {dict(weighted)}")

    # The administrator's view.
    listing = tb.exec(director, [*webdb.QUORATE, "lvs"], timeout=30)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0] == f"quorate load balancer on {director}" and lines[1].startswith("data plane: nftables")
    assert any(line.split()[:3] == ["TCP", f"{VIP}:80", "rr"] for line in lines), listing.stdout
    assert any(line.split()[:3] == ["TCP", f"{VIP}:8080", "wrr"] for line in lines), listing.stdout
    # Each virtual service counts its own connections, though both use the same real servers.
    conns = {line.split()[1]: int(line.split()[3]) for line in lines if line.startswith("TCP ")}
    assert 400 <= conns[f"{VIP}:8080"] <= 430 and 300 <= conns[f"{VIP}:80"] <= 400, listing.stdout
    assert sum(1 for line in lines if line.startswith("  -> 192.168.0.") and line.endswith(" up")) == 6, lines
    other = next(n for n in NODES if n != director)
    elsewhere = tb.exec(other, [*webdb.QUORATE, "lvs"], timeout=30).stdout
    assert f"web ({VIP}:80, service lvs): directed by {director}" in elsewhere, elsewhere

    # A real server fails: out of rotation within interval x fall, no request fails after that.
    victim = next(n for n in NODES if n != director)
    address = farm_bed.node_address(NODES.index(victim) + 1)
    probe_out = tmp_path / "probe.jsonl"
    probe = tb.client_popen(CLIENT, [farm_bed.PYTHON, "-m", "quorate.testbed.lvs", "probe", VIP, "80",
                                     str(probe_out)])  # fmt: skip
    try:
        failure_window(tb, farm, director, victim, address, probe_out)
        director_failover(tb, director, probe_out)
    finally:
        tb.end_popen(probe)


def failure_window(tb: Testbed, farm: Farm, director: str, victim: str, address: str, probe_out: Path) -> None:
    stopped = time.time()
    farm.stop(victim)
    leaves = f"realserver {address}:80 leaves web: {FALL} failed checks (connection refused)"
    bound = INTERVAL * FALL + TIMEOUT + SLACK
    wait_until(f"'{leaves}' in {director}'s log", lambda: leaves in tb.daemon_log(director), bound)
    removed = time.time()
    time.sleep(1.0)
    after = [r for r in farm_bed.read_probe(probe_out) if r["t"] > removed]
    assert len(after) >= 10 and all(r["ok"] and r["node"] != short(victim) for r in after), after[:5]
    assert short(victim) not in shares(burst(tb, CLIENT, 80, 60))
    print(f"{short(victim)} stopped: out of rotation after {removed - stopped:.1f} s (bound {bound:.0f} s)")

    farm.start(victim)
    started = time.time()
    joins = f"realserver {address}:80 joins web: {RISE} passed checks"
    wait_until(f"'{joins}' in {director}'s log", lambda: joins in tb.daemon_log(director), INTERVAL * RISE + SLACK)
    assert short(victim) in shares(burst(tb, CLIENT, 80, 30))
    print(f"{short(victim)} started: back in rotation after {time.time() - started:.1f} s")


def served_again(probe_out: Path, cut: float) -> float | None:
    """The time the probe writing ``probe_out`` began its first run of 20 answered requests after ``cut``; None
    until it has one."""
    records = [r for r in farm_bed.read_probe(probe_out) if r["t"] > cut]
    firsts = [i for i, r in enumerate(records) if r["ok"] and all(x["ok"] for x in records[i : i + 20])]
    return records[firsts[0]]["t"] if firsts and len(records) >= firsts[0] + 20 else None


def director_failover(tb: Testbed, director: str, probe_out: Path) -> None:
    cut = time.time()
    tb.power_off(director)
    survivors = [n for n in NODES if n != director]
    heir = wait_until("service lvs started on a survivor",
                      lambda: (o := owner(tb, survivors)) in survivors and o, 90)  # fmt: skip

    back = wait_until("the client served again for 20 requests in a row", lambda: served_again(probe_out, cut), 60)
    window = back - cut
    assert window <= TOKEN_MS / 1000 + 12, f"the client waited {window:.1f} s after the director lost power"
    assert holders(tb) == [heir]
    listing = tb.exec(heir, [*webdb.QUORATE, "lvs"], timeout=30).stdout
    print(listing)
    dead = farm_bed.node_address(NODES.index(director) + 1)
    assert any(line.startswith(f"  -> {dead}:80") and "DOWN" in line for line in listing.splitlines()), listing
    print(f"director {short(director)} powered off: {short(heir)} directs, client served again after {window:.1f} s")


CLIENT6 = "fd00:5a::100"


def test_ipv6_balance_and_director_failover(testbed: Any, tmp_path: Path) -> None:
    import os

    from quorate.testbed import netns

    if not os.access(farm_bed.APACHE, os.X_OK):
        pytest.fail(f"{farm_bed.APACHE} is missing (Debian package apache2)", pytrace=False)
    conf = tmp_path / "cluster.conf"
    conf.write_text(farm_bed.cluster_conf(fence_secret=SECRET, token_ms=TOKEN_MS, ipv6=True))
    tb: Testbed = testbed(conf, start_daemons=False)
    farm_bed.enable_ipv6(tb)
    farm = Farm(tb, ipv6=True)
    try:
        for node in NODES:
            farm.start(node)
        start_power_switch(tb, secret=SECRET)
        netns.enable_ipv6(tb.add_client(CLIENT, CLIENT_ADDRESS), CLIENT6)
        for node in NODES:
            tb.start_daemon(node)
        with VipWatch(tb, VIP6) as watch:
            ipv6_scenario(tb, tmp_path)
        doubled = [(t, h) for t, h in watch.samples if len(h) > 1]
        assert not doubled, f"two nodes carried {VIP6} at once: {doubled[:3]}"
        assert sum(1 for _, h in watch.samples if h) > 20, "the watch must have seen the address held"
    finally:
        farm.close()
        (tmp_path / "logs").mkdir(exist_ok=True)
        for node in tb.nodes:
            (tmp_path / "logs" / f"{node}.log").write_text(tb.daemon_log(node))


def ipv6_scenario(tb: Testbed, tmp_path: Path) -> None:
    import json
    import subprocess

    from quorate.testbed import netns
    director = wait_until("service lvs started", lambda: owner(tb, list(NODES)), 120)
    wait_until("the client served over IPv6", lambda: burst(tb, CLIENT, 80, 3, vip=VIP6)[-1]["ok"], 60)
    wait_until("every real server in rotation", lambda: len(shares(burst(tb, CLIENT, 80, 6, vip=VIP6))) == 3, 60)
    even = shares(burst(tb, CLIENT, 80, 300, vip=VIP6))
    assert set(even) == {short(n) for n in NODES}
    for node in NODES:
        assert abs(even[short(node)] - 100) <= 10, even
    listing = tb.exec(director, [*webdb.QUORATE, "lvs"], timeout=30)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert any(line.split()[:3] == ["TCP", f"[{VIP6}]:80", "rr"] for line in lines), listing.stdout
    rows = [line for line in lines if line.startswith("  -> [fd00:5a::20") and line.endswith(" up")]
    assert len(rows) == 3, listing.stdout
    print(f"\nIPv6 shares: {dict(even)}")

    probe_out = tmp_path / "probe6.jsonl"
    probe = tb.client_popen(CLIENT, [farm_bed.PYTHON, "-m", "quorate.testbed.lvs", "probe", VIP6, "80",
                                     str(probe_out)])  # fmt: skip
    try:
        wait_until("the probe served", lambda: any(r["ok"] for r in farm_bed.read_probe(probe_out)), 30)
        cut = time.time()
        tb.power_off(director)
        survivors = [n for n in NODES if n != director]
        heir = wait_until("service lvs started on a survivor",
                          lambda: (o := owner(tb, survivors)) in survivors and o, 90)  # fmt: skip
        back = wait_until(
            "the client served again over IPv6 for 20 requests in a row", lambda: served_again(probe_out, cut), 60
        )
    finally:
        tb.end_popen(probe)
    window = back - cut
    assert window <= TOKEN_MS / 1000 + 12, f"the client waited {window:.1f} s after the director lost power"
    assert holders(tb, VIP6) == [heir]
    heir_mac = json.loads(subprocess.run(["ip", "-n", tb.netns(heir), "-j", "link", "show", "dev", "eth0"],
                                         capture_output=True, text=True, check=True).stdout)[0]["address"]  # fmt: skip
    client_sees = {ip: mac for ip, mac, _ in netns.neighbours(tb.client_netns(CLIENT)) if ip == VIP6}
    assert client_sees == {VIP6: heir_mac}, f"the client's neighbour entry for {VIP6}: {client_sees}, heir {heir_mac}"
    print(f"IPv6 director {short(director)} off: {short(heir)} directs, client served again after {window:.1f} s")
