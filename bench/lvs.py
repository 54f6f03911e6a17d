"""``python -m bench.lvs``: what the clients of a load-balanced web farm see (root).

    sudo .venv/bin/python -m bench.lvs [--seconds 10] [--threads 4] [--token 3000] [--json FILE]

One testbed of `quorate.testbed.lvs`'s cluster: each of the three nodes runs its own Apache on its own address,
the service ``lvs`` holds the virtual address 192.168.0.160 and balances port 80 over the three (round robin,
HTTP checks every 2 s, rise 2, fall 2). From a client host it measures, in this order:

* requests per second through the virtual address, and straight to one real server (the same node's Apache,
  so the difference is the director's NAT and the extra hop), ``--threads`` clients for ``--seconds`` each;
* time from a real server's Apache stopping to the director's decision that it leaves the rotation (the
  decision's log stamp), against the bound interval x fall + timeout;
* the director powered off: the window the client sees, from the power cut to the first of 20 answers in a row
  (one GET every 50 ms), fence and takeover included, and the time without any answer in it.

Figures are measured and printed, never asserted; exit status 1 when a step could not be measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchError, testbed_missing, wait_log
from quorate.testbed import Testbed, webdb
from quorate.testbed import lvs as farm_bed
from quorate.testbed.lvs import FALL, INTERVAL, NODES, TIMEOUT, VIP, Farm
from quorate.testbed.power import start_power_switch

PREFIX = "qblvs"
SECRET = "quorate-bench-lvs"
CLIENT, CLIENT_ADDRESS = "client", "192.168.0.100"


def until(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


def owner(tb: Testbed, observers: list[str]) -> str | None:
    seen = webdb.services(tb, observers)
    if seen is None or seen.get("lvs", ("", ""))[0] != "started":
        return None
    return seen["lvs"][1] or None


def rate(tb: Testbed, address: str, seconds: float, threads: int) -> dict[str, Any]:
    argv = [farm_bed.PYTHON, "-m", "quorate.testbed.lvs", "rate", address, "80", str(seconds)]
    argv += ["--threads", str(threads)]
    done = tb.client_exec(CLIENT, argv, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"rate against {address}: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(tb: Testbed, farm: Farm, seconds: float, threads: int, token_ms: int, scratch: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"token_ms": token_ms, "threads": threads, "seconds": seconds}
    for node in NODES:
        farm.start(node)
    start_power_switch(tb, secret=SECRET)
    tb.add_client(CLIENT, CLIENT_ADDRESS)
    director = until("service lvs started", lambda: owner(tb, list(NODES)), 120)
    until("all three real servers answering through the virtual address",
          lambda: len({a.get("node") for a in farm_bed.burst(tb, CLIENT, 80, 6) if a["ok"]}) == 3, 60)  # fmt: skip
    direct_node = next(n for n in NODES if n != director)
    through = rate(tb, VIP, seconds, threads)
    direct = rate(tb, farm_bed.node_address(NODES.index(direct_node) + 1), seconds, threads)
    figures["vip_per_second"] = round(through["per_second"], 1)
    figures["vip_failed"] = through["failed"]
    figures["direct_per_second"] = round(direct["per_second"], 1)
    figures["direct_node"] = direct_node

    address = farm_bed.node_address(NODES.index(direct_node) + 1)
    stopped = time.time()
    farm.stop(direct_node)
    left = wait_log(tb, [director], f"realserver {address}:80 leaves web", stopped, 60)
    figures["removal_s"] = round(left - stopped, 2)
    figures["removal_bound_s"] = INTERVAL * FALL + TIMEOUT
    farm.start(direct_node)
    wait_log(tb, [director], f"realserver {address}:80 joins web", time.time() - 1, 60)

    out = scratch / "probe.jsonl"
    probe = tb.client_popen(CLIENT, [farm_bed.PYTHON, "-m", "quorate.testbed.lvs", "probe", VIP, "80", str(out)])
    try:
        time.sleep(2)
        cut = time.time()
        tb.power_off(director)

        def served() -> float | None:
            after = [r for r in farm_bed.read_probe(out) if r["t"] > cut]
            for i, record in enumerate(after):
                if len(after) >= i + 20 and all(r["ok"] for r in after[i : i + 20]):
                    return float(record["t"])
            return None

        back = until("the client served again after the director's power cut", served, 120)
        records = [r for r in farm_bed.read_probe(out) if cut < r["t"] <= back]
        failed = [r["t"] for r in records if not r["ok"]]
        figures["failover_s"] = round(back - cut, 2)
        figures["failover_unanswered_s"] = round(back - failed[0], 2) if failed else 0.0
        survivors = [n for n in NODES if n != director]
        figures["new_director"] = until("the new director in the survivors' view", lambda: owner(tb, survivors), 60)
    finally:
        tb.end_popen(probe)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lvs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per request-rate run (default 10)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--token", type=int, default=3000, help="totem token in ms (default 3000)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to FILE")
    args = parser.parse_args(argv)
    if testbed_missing("bench.lvs"):
        return 2
    with tempfile.TemporaryDirectory(prefix="quorate-bench-lvs-") as scratch:
        conf = Path(scratch) / "cluster.conf"
        conf.write_text(farm_bed.cluster_conf(fence_secret=SECRET, token_ms=args.token))
        try:
            with Testbed.up(conf, prefix=PREFIX) as tb:
                farm = Farm(tb)
                try:
                    figures = measure(tb, farm, args.seconds, args.threads, args.token, Path(scratch))
                finally:
                    farm.close()
        except BenchError as exc:
            print(f"bench.lvs: {exc}", file=sys.stderr)
            return 1
    print(f"requests/s through {VIP}:80 ({args.threads} clients): {figures['vip_per_second']} "
          f"({figures['vip_failed']} failed)")  # fmt: skip
    print(f"requests/s straight to {figures['direct_node']}:80:        {figures['direct_per_second']}")
    print(f"real server stopped -> out of rotation:      {figures['removal_s']} s "
          f"(bound interval x fall + timeout = {figures['removal_bound_s']} s)")  # fmt: skip
    print(f"director powered off -> client served again: {figures['failover_s']} s "
          f"(no answer for {figures['failover_unanswered_s']} s; token {args.token} ms; "
          f"new director {figures['new_director']})")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
