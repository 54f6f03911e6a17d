"""`quorate chaos`: seeded faults against a real testbed cluster, each round judged by independent checks.

Theory of operation: `chaos_bed` brings up the article's cluster (three nodes, service `test` on a shared
ext3 LUN, fence_netns through the power switch, a short token). Each round carries out one plan
(`chaos_plan`: every random choice made up front from the seed), then undoes what the faults left (heal the
network, continue stopped processes, power nodes back on, clear the script's failure switches) and polls
until the cluster has recovered: every node answers with one quorate view of all nodes, the service is
started on the best node of its failover domain (the first node, every node being up), and every node holds
the same configuration version. The seconds from the start of the undo to that moment are the round's recovery time;
not recovering within the bound is a violation.

While a round runs, a watcher thread (with its own testbed handle) samples every node's power, so the time
a node lost power is the testbed's observation, not a log line. After recovery the shared file, the power
observations, the daemons' "fence ... confirmed" and "started on" log times and each node's cluster.conf
on disk go through the pure checks of `chaos_checks`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from quorate.testbed import article, chaos_checks, procs
from quorate.testbed.chaos_bed import FAIL_START, FAIL_STOP, write_conf
from quorate.testbed.chaos_faults import ACTIONS as MORE_ACTIONS
from quorate.testbed.chaos_faults import Faults
from quorate.testbed.chaos_plan import Plan, Step
from quorate.testbed.chaos_report import RoundResult
from quorate.testbed.conf import TestbedError
from quorate.testbed.testbed import Testbed

QUORATE = [sys.executable, "-m", "quorate.cli.main"]
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]
SERVICE = "test"
SAMPLE = 0.2


class PowerWatch:
    """Samples every node's power in a thread; remembers when each node was first seen off, and the last time it
    was seen on before that: the power went out between the two, so only the earlier time proves a node was
    still on."""

    def __init__(self, prefix: str) -> None:
        self._bed = Testbed.attach(prefix)
        self._stop = threading.Event()
        self.off_at: dict[str, float] = {}
        self.on_until: dict[str, float] = {}  # the last sample that saw a node on, before it was first seen off
        self._thread = threading.Thread(target=self._loop, name="chaos-power-watch", daemon=True)

    def __enter__(self) -> PowerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for node in self._bed.nodes:
                try:
                    on = self._bed.is_powered(node)
                except TestbedError:
                    continue
                if on and node not in self.off_at:
                    self.on_until[node] = time.time()
                elif not on and node not in self.off_at:
                    self.off_at[node] = time.time()
            self._stop.wait(SAMPLE)


class Chaos:
    """Runs plans against ``tb`` (the cluster of `chaos_bed.article_cluster`, built from ``conf``)."""

    def __init__(
        self, tb: Testbed, conf: Path, *, period: float, bound: float, log: Callable[[str], None],
        logs_dir: Path | None = None,
    ) -> None:  # fmt: skip
        self.tb = tb
        self.logs_dir = logs_dir
        self.conf = conf
        self.period = period
        self.bound = bound
        self.log = log
        self.version = chaos_checks.config_version(conf.read_bytes()) or 0
        self.device = _device_of(conf)
        self.token_ms = _token_of(conf)
        self.service = SERVICE
        self.qdisk = "<quorumd" in conf.read_text()
        self.faults = Faults(self)

    # ------------------------------------------------------------- observing
    def status(self, node: str) -> dict[str, object] | None:
        if not self.tb.is_powered(node):
            return None
        try:
            done = self.tb.exec(node, [*QUORATE, "status", "--json"], timeout=20)
        except (OSError, subprocess.SubprocessError):  # a node hanging under a fault answers nothing
            return None
        if done.returncode != 0:
            return None
        parsed: dict[str, object] = json.loads(done.stdout)
        return parsed

    def recovered(self) -> bool:
        """One quorate view of every node, the service started on the first node, one configuration version (and
        on a cluster with a quorum disk, every node counting its vote)."""
        everyone = sorted(self.tb.nodes)
        versions = set()
        for node in self.tb.nodes:
            s = self.status(node)
            if s is None or not s["quorate"]:
                return False
            if self.qdisk and not s["qdisk_votes"]:  # the quorum disk's master elected and its vote counted
                return False
            names = {n["nodeid"]: n["name"] for n in s["nodes"]}  # type: ignore[attr-defined]
            if sorted(names[m] for m in s["members"]) != everyone:  # type: ignore[attr-defined]
                return False
            versions.add(s["config_version"])
            services = {svc["name"]: svc for svc in s["services"]}  # type: ignore[attr-defined]
            svc = services.get(SERVICE)
            if svc is None or svc["state"] != "started" or svc["owner"] != self.tb.nodes[0]:
                return False
        return len(versions) == 1

    def wait_recovered(self, since: float | None = None) -> float | None:
        """Seconds from ``since`` (a ``time.monotonic`` value, default now) until the cluster has recovered."""
        began = time.monotonic() if since is None else since
        while time.monotonic() - began < self.bound:
            for node in self.tb.nodes:  # a node fenced (powered off) after the undo is booted again, as by hand
                if not self.tb.is_powered(node):
                    self.tb.power_on(node, start_daemon=True)
            if self.recovered():
                return time.monotonic() - began
            time.sleep(0.5)
        return None

    def writes(self) -> list[chaos_checks.Write]:
        for node in self.tb.nodes:
            if self.tb.is_powered(node):
                done = self.tb.exec(node, ["cat", article.OUTPUT], timeout=10)
                if done.returncode == 0:
                    return chaos_checks.parse_writes(done.stdout)
        return []

    def log_first(self, marker: str, since: float) -> float | None:
        times = [t for n in self.tb.nodes for t in chaos_checks.log_times(self.tb.daemon_log(n), marker, since)]
        return min(times) if times else None

    # ---------------------------------------------------------------- acting
    def _name(self, index: object) -> str:
        return self.tb.nodes[int(index)]  # type: ignore[call-overload]

    def _any_powered(self, prefer: str | None = None) -> str:
        for node in [prefer, *self.tb.nodes]:
            if node is not None and self.tb.is_powered(node):
                return node
        raise TestbedError("every node is powered off")

    def _freeze(self, node: str, sig: int) -> None:
        holder = self.tb.holder_pid(node)
        if holder is None:
            return
        ids = [procs.ns_id(holder, "pid")]
        for pid in procs.pids_in_namespaces("pid", ids):
            if pid != holder:
                procs.send(pid, sig)

    def do(self, step: Step) -> None:
        tb, args = self.tb, step.args
        self.log(f"  {step.action} {' '.join(map(str, args))}".rstrip())
        if step.action == "power_off":
            tb.power_off(self._name(args[0]))
        elif step.action == "power_on":
            if not tb.is_powered(self._name(args[0])):
                tb.power_on(self._name(args[0]), start_daemon=True)
        elif step.action == "kill":
            if tb.daemon_running(self._name(args[0])):
                tb.kill(self._name(args[0]))
        elif step.action == "pause":
            tb.pause(self._name(args[0]))
        elif step.action == "resume":
            if tb.daemon_running(self._name(args[0])):
                tb.resume(self._name(args[0]))
        elif step.action in ("freeze", "thaw"):
            self._freeze(self._name(args[0]), signal.SIGSTOP if step.action == "freeze" else signal.SIGCONT)
        elif step.action == "partition":
            tb.partition(*[[self._name(i) for i in group] for group in args])  # type: ignore[attr-defined]
        elif step.action == "one_way":
            tb.one_way(self._name(args[0]), self._name(args[1]))
        elif step.action == "heal":
            tb.heal()
        elif step.action in ("fail_start", "fail_stop"):
            node = self._name(args[0])
            tb.exec(node, ["touch", FAIL_START if step.action == "fail_start" else FAIL_STOP], timeout=10)
            if step.action == "fail_stop":  # and a process in the mount point, so the fs cannot go either
                tb.exec(node, ["sh", "-c", f"cd {article.MOUNTPOINT} && nohup sleep 900 >/dev/null 2>&1 &"])
        elif step.action == "relocate":
            target = self._name(args[0])
            done = tb.exec(self._any_powered(), [*CLUSVCADM, "-r", SERVICE, "-m", target], timeout=120)
            self.log(f"    clusvcadm -r {SERVICE} -m {target}: exit {done.returncode}")
        elif step.action == "restart":
            node = self._name(args[0])
            tb.stop_daemon(node)
            tb.start_daemon(node)
        elif step.action == "push_config":
            self.version += 1
            pushed = write_conf(self.conf.parent, self.device, token_ms=self.token_ms, period=self.period,
                                version=self.version, qdisk=self.qdisk)  # fmt: skip
            done = tb.exec(self._name(args[0]), [*QUORATE, "config", "push", str(pushed)], timeout=120)
            self.log(f"    config push version {self.version}: exit {done.returncode} {done.stdout.strip()}")
            if done.returncode != 0:
                self.version -= 1  # refused everywhere: nothing may be lost
        elif step.action in MORE_ACTIONS:
            self.faults.do(step)
        else:
            raise ValueError(f"unknown chaos action {step.action!r}")

    def undo(self) -> None:
        """Put the machines right, as an operator would; the cluster must do the rest by itself."""
        tb = self.tb
        self.faults.undo()
        tb.heal()
        for node in tb.nodes:
            if tb.is_powered(node):
                self._freeze(node, signal.SIGCONT)
                tb.exec(node, ["rm", "-f", FAIL_START, FAIL_STOP], timeout=10)
                tb.exec(node, ["sh", "-c", "pkill -f '^sleep 900' || true"], timeout=10)
        for node in tb.nodes:
            if not tb.is_powered(node):
                tb.power_on(node, start_daemon=True)
            elif not tb.daemon_running(node):
                tb.start_daemon(node)

    # ---------------------------------------------------------------- a round
    def run(self, plan: Plan) -> RoundResult:
        began = time.time()
        self.log(f"{plan.scenario} round {plan.round} (seed {plan.seed}):")
        violations: list[str] = []
        self.faults.start_round(began)
        with PowerWatch(self.tb.prefix) as watch:
            cut_at = None
            for step in plan.steps:
                if step.action == "partition" and cut_at is None:
                    cut_at = time.time()
                try:
                    self.do(step)
                except TestbedError as exc:  # an earlier fault took the node away (fenced, say): nothing to do
                    self.log(f"    skipped: {exc}")
                time.sleep(step.pause)
            faults_end, undone_at = time.time(), time.monotonic()
            self.undo()
            recovery = self.wait_recovered(since=undone_at)
        violations += self.faults.notes
        if recovery is None:
            violations.append(f"not recovered within {self.bound:g} s of the end of the faults")
        writes = [w for w in self.writes() if w.time >= began - 3 * self.period]
        violations += chaos_checks.writer_violations(writes, self.period)
        if cut_at is not None and plan.cut_off:
            grace = 3 * self.token_ms / 1000 + 3 * self.period
            hosts = [self._name(i) for i in plan.cut_off]
            violations += chaos_checks.silent_violations(writes, hosts, cut_at + grace, faults_end)
        off = {node: watch.on_until.get(node, began) for node in watch.off_at}
        fenced = {n: t for n in off if (t := self.log_first(f"fence of {n} confirmed", began - 1)) is not None}
        logs = [self.tb.daemon_log(m) for m in self.tb.nodes]
        since = began - 3 * self.period
        started = {
            n: [t for log in logs for t in chaos_checks.log_times(log, f"service:{SERVICE} started on {n}", since)]
            for n in self.tb.nodes
        }
        released = {
            n: [t for log in logs for t in chaos_checks.log_times(log, f"service:{SERVICE} stopped on {n}", since)]
            for n in off
        }
        violations += chaos_checks.takeover_violations(writes, off, fenced, started, released)
        on_disk = {
            node: chaos_checks.config_version((self.tb.node_dir(node) / "etc/cluster/cluster.conf").read_bytes())
            for node in self.tb.nodes
        }
        violations += chaos_checks.version_violations(on_disk, self.version)
        spans = ", ".join(f"{r.host.split('.')[0]} {r.lines}" for r in chaos_checks.runs(writes, self.period))
        self.log(f"  the shared disk's writers in turn (lines): {spans or 'nobody'}")
        if off:
            self.log(f"  lost power: {', '.join(sorted(off))}; fences confirmed: {', '.join(sorted(fenced)) or 'none'}")
        shown = f"{recovery:.1f} s" if recovery is not None else "none"
        self.log(f"  recovered in {shown}; {len(violations)} violation(s)")
        for text in violations:
            self.log(f"  VIOLATION: {text}")
        if violations and self.logs_dir is not None:
            self.keep_logs(plan)
        return RoundResult(plan.scenario, plan.round, plan.seed, recovery, violations)

    def keep_logs(self, plan: Plan) -> None:
        """Copy every node's daemon log and the shared file, which the testbed's teardown would delete."""
        assert self.logs_dir is not None
        where = self.logs_dir / f"{plan.scenario}-{plan.round}"
        where.mkdir(parents=True, exist_ok=True)
        for node in self.tb.nodes:
            (where / f"{node}.log").write_text(self.tb.daemon_log(node))
        owner = self._any_powered()
        (where / "shared-disk.out").write_text(self.tb.exec(owner, ["cat", article.OUTPUT], timeout=10).stdout)
        self.log(f"  logs kept in {where}")


def _device_of(conf: Path) -> str:
    text = conf.read_text()
    start = text.index('device="') + len('device="')
    return text[start : text.index('"', start)]


def _token_of(conf: Path) -> int:
    text = conf.read_text()
    start = text.index('<totem token="') + len('<totem token="')
    return int(text[start : text.index('"', start)])
