"""``python -m bench``: every benchmark figure of README.md (Benchmarks) on the testbed (root), min / median /
max next to its target.

    sudo .venv/bin/python -m bench [--trials 5] [--idle-seconds 60] [--json FILE] [--quick]
    sudo .venv/bin/python -m bench scale [...]      # how costs grow with nodes and services (bench/scale.py)
    sudo .venv/bin/python -m bench timeline [...]   # journal write cost, `quorate timeline` (bench/timeline.py)
    .venv/bin/python -m bench placement [...]       # the coordinator's placement cost (bench/placement.py)
    .venv/bin/python -m bench simscale [...]        # the whole-stack simulator at 32 nodes (bench/simscale.py)
    sudo .venv/bin/python -m bench flood [...]      # heartbeats during a control-socket flood (bench/flood.py)
    sudo .venv/bin/python -m bench idle [...]       # idle CPU per node, status checks included (bench/idle.py)

For each token (cman's default 10 s, and 300 ms) and each trial, a fresh three-node testbed of the article's
cluster (service `test` on a shared ext3 LUN, fence_netns through the power switch) measures: start of the 3
daemons to quorate and to the service started; relocation; failover when the owner is not, then is, the
coordinator. The first trial of each token also measures idle CPU and RSS of every daemon over
--idle-seconds, and `clustat` / `cman_tool status` whole-process times (30 runs; 5 with --quick).
--quick is a smoke run (1 trial, 5 s idle): its figures show the command works, not what the code achieves.
Figures are measured, never asserted; a trial that fails is reported and the others go on (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import cluster, services
from bench.common import BenchError, Results, render, testbed_missing
from quorate.testbed import Testbed, TestbedError
from quorate.testbed.power import start_power_switch

PREFIX = "qbench"
TOKENS = (10000, 300)  # the default token is left out of cluster.conf; 300 ms is set with <totem token>


def one_trial(directory: Path, lun: str, token_ms: int, results: Results, *, extras: bool, idle: float,
              cli_runs: int) -> str:  # fmt: skip
    conf = services.conf_for(directory, lun, None if token_ms == 10000 else token_ms)
    with Testbed.up(conf, prefix=PREFIX, start_daemons=False) as tb:
        start_power_switch(tb, secret=services.SECRET)
        t0 = cluster.start_all(tb, results, token_ms)
        services.start_to_service(tb, t0, results, token_ms)
        services.config_push(tb, directory, results, token_ms)
        if extras:
            cluster.idle_cost(tb, results, token_ms, idle)
            cluster.status_commands(tb, services.B, results, token_ms, cli_runs)
        services.relocate(tb, results, token_ms)
        services.failover_owner_not_coordinator(tb, results, token_ms)
        services.failover_owner_coordinator(tb, results, token_ms)
    keys = ("start_to_service", "relocate", "failover_owner_not_coordinator", "failover_owner_coordinator")
    return ", ".join(f"{key} {results.values[(token_ms, key)][-1]:.0f} ms" for key in keys)


def main(argv: list[str] | None = None) -> int:
    args_given = sys.argv[1:] if argv is None else argv
    if args_given[:1] == ["scale"]:  # how costs grow with nodes and services: bench/scale.py
        from bench import scale

        return scale.main(args_given[1:])
    if args_given[:1] == ["timeline"]:  # the decision journal and `quorate timeline`: bench/timeline.py
        from bench import timeline

        return timeline.main(args_given[1:])
    if args_given[:1] == ["flood"]:  # heartbeats during a control-socket flood: bench/flood.py
        from bench import flood

        return flood.main(args_given[1:])
    if args_given[:1] == ["simscale"]:  # the whole-stack simulator at scale, with its speed: bench/simscale.py
        from bench import simscale

        return simscale.main(args_given[1:])
    if args_given[:1] == ["idle"]:  # where a quiet node's CPU goes, owner and non-owners: bench/idle.py
        from bench import idle

        return idle.main(args_given[1:])
    if args_given[:1] == ["placement"]:  # the coordinator's placement cost, pure core: bench/placement.py
        from bench import placement

        return placement.main(args_given[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--trials", type=int, default=None, help="trials per token (default 5; 1 with --quick)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="idle window (default 60; 5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: 1 trial, 5 s idle, 5 CLI runs")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure and value as JSON")
    parser.add_argument("--tokens", default=",".join(map(str, TOKENS)), help="comma-separated token values (ms)")
    args = parser.parse_args(args_given)
    trials = args.trials or (1 if args.quick else 5)
    idle = args.idle_seconds or (5.0 if args.quick else 60.0)
    cli_runs = 5 if args.quick else 30
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    if testbed_missing("bench"):
        return 2

    results = Results()
    started = time.monotonic()
    print(f"quorate benchmarks: tokens {tokens} ms, {trials} trial(s) each, idle {idle:.0f} s, "
          f"{os.cpu_count()} cores{' (--quick: a smoke run, not figures to quote)' if args.quick else ''}",
          flush=True)  # fmt: skip
    directory = Path(tempfile.mkdtemp(prefix="quorate-bench-"))
    lun = services.make_lun(directory)
    try:
        for token_ms in tokens:
            for trial in range(trials):
                label = f"token {token_ms} ms, trial {trial + 1}/{trials}"
                try:
                    summary = one_trial(directory, lun, token_ms, results, extras=trial == 0, idle=idle,
                                        cli_runs=cli_runs)  # fmt: skip
                    print(f"  {label}: {summary}", flush=True)
                except (BenchError, TestbedError, subprocess.SubprocessError, OSError) as exc:
                    results.errors.append(f"{label}: {exc}")
                    print(f"  {label}: FAILED: {exc}", flush=True)
    finally:
        services.detach(lun)
        shutil.rmtree(directory, ignore_errors=True)

    rows = results.rows(tokens)
    print(render(rows))
    print(f"\n(targets are judged on the median; {time.monotonic() - started:.0f} s in all)")
    for error in results.errors:
        print(f"failed: {error}")
    if args.json:
        document: dict[str, Any] = {
            "when": datetime.now().isoformat(timespec="seconds"),
            "host": {"cores": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
            "settings": {"trials": trials, "idle_seconds": idle, "cli_runs": cli_runs, "quick": args.quick,
                         "tokens_ms": tokens},
            "figures": rows,
            "errors": results.errors,
        }  # fmt: skip
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
