"""``python -m bench.rg_test_noop``: the whole-process time of ``rg_test noop`` on a generated 200-resource service.

    .venv/bin/python -m bench.rg_test_noop [--runs 10] [--resources 200] [--keep FILE]

The generated cluster.conf has one service of ``--resources`` resources in groups shaped like real services:
an fs holding an NFS export with two clients, an address, an init script, an apache and a mysql, and a
reference to one script shared by every group, so that typed and untyped children, nesting, references and
inheritance are all exercised. It runs the installed ``rg_test noop FILE start service big`` (and ``stop``)
``--runs`` times each as a whole process, after byte-compiling the package as an installed one is, checks that
every resource is listed, and prints min / median / max against the target (median <= 150 ms). Nothing is
asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import compileall
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import quorate

TARGET_MS = 150.0
PER_GROUP = 8  # fs, nfsexport, 2 nfsclient, ip, script, apache, mysql (+ one reference to the shared script)


def generate(resources: int) -> str:
    """A cluster.conf whose service ``big`` holds exactly ``resources`` resources."""
    groups, rest = divmod(resources - 1, PER_GROUP + 1)  # one shared-script reference per group, one spare
    body = []
    for i in range(groups):
        body.append(
            f'      <fs name="fs{i}" device="/dev/vgbig/lv{i}" mountpoint="/big/{i}" fstype="ext4">\n'
            f'        <nfsexport name="exp{i}">\n'
            f'          <nfsclient name="c{i}a" target="@a{i}" options="rw"/>\n'
            f'          <nfsclient name="c{i}b" target="@b{i}" options="ro"/>\n'
            f"        </nfsexport>\n"
            f'        <ip address="10.9.{i // 250}.{i % 250 + 1}"/>\n'
            f'        <script name="s{i}" file="/etc/init.d/s{i}"/>\n'
            f'        <apache name="web{i}" config_file="conf/web{i}.conf"/>\n'
            f'        <mysql name="db{i}" config_file="/etc/my{i}.cnf"/>\n'
            f'        <script ref="shared"/>\n'
            f"      </fs>\n"
        )
    body += [f'      <script name="extra{j}" file="/etc/init.d/extra{j}"/>\n' for j in range(rest)]
    body.append('      <script ref="shared"/>\n')
    return (
        '<?xml version="1.0"?>\n<cluster name="bench" config_version="1">\n  <clusternodes>\n'
        '    <clusternode name="node1" nodeid="1"/>\n    <clusternode name="node2" nodeid="2"/>\n'
        "  </clusternodes>\n  <rm>\n"
        '    <resources>\n      <script name="shared" file="/etc/init.d/shared"/>\n    </resources>\n'
        '    <service name="big">\n' + "".join(body) + "    </service>\n  </rm>\n</cluster>\n"
    )


def measure(command: list[str], runs: int, expect_lines: int) -> tuple[list[float], list[float]]:
    """(wall-clock ms, CPU ms) of each run; CPU time (user + system of the process) says less about how busy
    the machine is, which matters on a shared one."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        times.append((time.perf_counter() - began) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        if done.returncode != 0 or len(done.stdout.splitlines()) != expect_lines:
            raise SystemExit(f"rg_test failed ({done.returncode}): {done.stderr[-2000:]}")
    return times, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rg_test_noop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--keep", help="also write the generated cluster.conf here")
    args = parser.parse_args(argv)
    compileall.compile_dir(str(Path(quorate.__file__).parent), quiet=1)
    text = generate(args.resources)
    if args.keep:
        Path(args.keep).write_text(text)
    rg_test = str(Path(sys.executable).with_name("rg_test"))
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "cluster.conf"
        conf.write_text(text)
        lines = args.resources + 1 + 2  # every resource, the service itself, the two framing lines
        print(f"rg_test noop, one service of {args.resources} resources, {args.runs} runs (whole process)")
        for action in ("start", "stop"):
            times, cpu = measure([rg_test, "noop", str(conf), action, "service", "big"], args.runs, lines)
            median = statistics.median(times)
            verdict = "ok" if median <= TARGET_MS else "OVER"
            print(
                f"  noop {action:5}  min {min(times):7.1f}  median {median:7.1f}  max {max(times):7.1f} ms"
                f"  target <= {TARGET_MS:.0f} ms median {verdict}"
                f"   (CPU min {min(cpu):.1f}  median {statistics.median(cpu):.1f} ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
