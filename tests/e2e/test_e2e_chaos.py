"""`quorate chaos` on a real testbed: a short seeded run of five scenarios, one round each.

The command builds its own testbed (the article's cluster on a loop LUN), so this test only needs the
machine the testbed needs; without root it fails through ``require_root`` like every end-to-end test. What
it checks is what a user of the command sees: the replay line, one table row per scenario with a recovery
time, no violation, the same table in the report file, and exit status 0.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from quorate.testbed.support import unique_prefix

SCENARIOS = ("kill-daemon", "partition-2-1", "stop-fails", "fence-second-method", "started-twice")


def test_a_seeded_chaos_run_recovers_every_round_and_keeps_every_invariant(
    require_root: None, tmp_path: Path
) -> None:
    report = tmp_path / "chaos.md"
    argv = [sys.executable, "-m", "quorate.cli.main", "chaos", "--seed", "3", "--report", str(report),
            "--prefix", unique_prefix(), *[arg for name in SCENARIOS for arg in ("--scenario", name)]]  # fmt: skip
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    took = time.monotonic() - began
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"replay with: quorate chaos --scenario {SCENARIOS[0]}" in out and "--seed 3" in out
    written = report.read_text()
    assert written in done.stdout
    rows = [line for line in written.splitlines() if line.startswith("| ") and not line.startswith("| scenario")]
    assert [row.split(" | ")[0][2:] for row in rows] == list(SCENARIOS)
    for row in rows:
        assert re.fullmatch(r"\| \S+ \| 1 \| [\d.]+ s \| [\d.]+ s \| [\d.]+ s \| 1 \| 0 \|", row), row
    # kill-daemon, stop-fails and fence-second-method each fence a node: the power switch really cut it, the last
    # one through the second fence method once the first one's agent failed.
    assert out.count("lost power:") >= 3, out
    assert "second quorated on" in out and "exit 100" in out
    assert "VIOLATION" not in out
    print(f"chaos run of {len(SCENARIOS)} scenarios: {took:.0f} s")
