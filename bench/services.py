"""Service benchmarks on the testbed (needs root). Prints figures; asserts nothing.

    sudo .venv/bin/python bench/services.py [--runs 3]

The article's service (ext3 on a shared loop device + the article's init script), token 5 s, fence_netns
through the testbed's power switch. Measures, with min / median / max:
  * relocate: `clusvcadm -r test -m casper` whole command (stop on the owner, start on the target);
  * failover: owner's daemon SIGKILLed -> fenced -> service started on the next node (from the survivor's log);
  * `clustat` whole-process time on a node.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from quorate import demo
from quorate.testbed import Testbed
from quorate.testbed.power import start_power_switch

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) quorated\[\d+\]: (.*)$")


def summary(name: str, values: list[float], unit: str, target: str) -> None:
    print(
        f"{name:<38} min {min(values):8.1f} {unit}  median {statistics.median(values):8.1f} {unit}  "
        f"max {max(values):8.1f} {unit}  (n={len(values)})   target {target}",
        flush=True,
    )


def owner(tb: Testbed, node: str) -> str:
    out = tb.exec(node, [str(Path(sys.executable).with_name("clustat")), "-s", "test"]).stdout
    for line in out.splitlines():
        if line.startswith(" service:test"):
            parts = line.split()
            return parts[1] if parts[-1] == "started" else ""
    return ""


def wait(what: str, probe, timeout: float) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if probe():
            return
        time.sleep(0.1)
    raise SystemExit(f"bench: timed out waiting for {what}")


def log_time(tb: Testbed, node: str, pattern: str, after: float) -> float | None:
    for line in tb.daemon_log(node).splitlines():
        m = STAMP.match(line)
        if m and re.search(pattern, m.group(2)):
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            if t >= after:
                return t
    return None


TIMER = r"""
import subprocess, sys, time
runs = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    subprocess.run([sys.argv[1]], stdout=subprocess.DEVNULL, check=True)
    runs.append((time.perf_counter() - t) * 1000)
print(" ".join(f"{r:.2f}" for r in runs))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    conf = demo.prepare()
    text = conf.read_text().replace("<clusternodes>", '<totem token="5000"/>\n  <clusternodes>', 1)
    conf.write_text(text)
    relocations: list[float] = []
    failovers: list[float] = []
    clustat: list[float] = []
    try:
        for run in range(args.runs):
            with Testbed.up(conf, prefix="qbsvc") as tb:
                start_power_switch(tb, secret=demo.SECRET)
                b, c, _m = tb.nodes
                wait("service:test on balthasar", lambda tb=tb, b=b: owner(tb, b) == b, 60)
                t0 = time.monotonic()
                done = tb.exec(b, [*demo.CLUSVCADM, "-r", "test", "-m", c], timeout=120)
                relocations.append((time.monotonic() - t0) * 1000)
                if "Success" not in done.stdout:
                    raise SystemExit(f"bench: relocation failed: {done.stdout}{done.stderr}")
                killed = time.time()
                tb.kill(c, signal.SIGKILL)
                wait("takeover by balthasar", lambda tb=tb, b=b: owner(tb, b) == b, 60)
                started = log_time(tb, b, r"service:test started on balthasar", killed)
                fenced = log_time(tb, b, r"fence of casper.localdomain confirmed", killed)
                if started and fenced:
                    failovers.append((started - killed) * 1000)
                if run == args.runs - 1:
                    binary = str(Path(sys.executable).with_name("clustat"))
                    out = tb.exec(b, [sys.executable, "-c", TIMER, binary, "30"], timeout=120).stdout
                    clustat = [float(x) for x in out.split()]
    finally:
        loop = demo.RUN / "loop"
        if loop.exists():
            subprocess.run(["losetup", "-d", loop.read_text().strip()], capture_output=True, check=False)
            loop.unlink()
    summary("relocate (clusvcadm -r, whole command)", relocations, "ms", "<= 180 ms for fs + script")
    summary("failover (kill -> fenced -> started)", failovers, "ms", "<= token + 150 = 5150 ms")
    summary("clustat (whole process)", clustat, "ms", "<= 20 ms median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
