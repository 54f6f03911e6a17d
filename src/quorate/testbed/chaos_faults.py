"""The faults of `quorate chaos` beyond power, signals, partitions and the script's switches.

Theory of operation: each action here changes one thing on the testbed the way an operator's mistake or a
sick machine would, and registers how to put it back; `undo` runs those in reverse order before the engine's
own undo (heal, power on, start daemons), so a round always ends on the bed it began with. The faults:

* ``loss``: a share of what a node receives is dropped at random (nftables ``numgen``, `faults.loss_script`);
* ``fence_mode``: the word in the work directory's mode file that every node's ``fence_chaos`` reads (fail,
  hang, first-fails, or nothing: forward to the power switch);
* ``hang_status``: the service's init script blocks in ``status`` on a node (its timeout is enforced), until
  ``clear_status``;
* ``relocate_async`` then ``power_off_coordinator``: ``clusvcadm -r`` runs in the background while the node
  that coordinates the cluster loses power;
* ``clock_daemon`` then ``clock_jump``: a node's daemon runs under libfaketime with a timestamp file the
  round rewrites (``+3600``, ``-3600``, ``+0``); only the wall clock moves, monotonic time is left alone;
* ``disk_full`` and ``disk_free``: a small tmpfs over the node's ``/var/lib/quorate`` (holding a copy of its
  state file) filled up, then emptied; ``restart_other`` makes the node persist a new view generation;
* ``second_daemon``: a second quorated started on a node whose daemon runs;
* ``wrong_key``: a node's daemon restarted with a key the others do not share;
* ``stop_daemon``/``start_daemon``: a node's daemon stopped (clean leave) and started;
* ``qdisk_lost`` (one node, or every node for index -1), ``qdisk_readonly``, ``qdisk_frozen``: a node's path
  to the quorum disk breaks (`chaos_qdisk` says how).

Some faults are only meaningful if the cluster then behaves in a given way that the shared disk cannot show
(a second daemon refused, a full disk reported, datagrams dropped and counted). The ``expect_*`` actions look
for that evidence and note a violation when it is missing; the judging itself is in `chaos_checks`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from quorate.testbed import chaos_checks, chaos_qdisk
from quorate.testbed.chaos_bed import FENCE_MODE, HANG_STATUS
from quorate.testbed.chaos_plan import Step
from quorate.testbed.conf import TestbedError
from quorate.testbed.testbed import Testbed

FAKETIME_LIBRARY = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
DAEMON = [sys.executable, "-m", "quorate.node.daemon"]
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]
STATE_DIR = "/var/lib/quorate"
FULL_SIZE = "64k"
SAVED_STATE = "/run/chaos-state.json"

ACTIONS = (
    "loss", "fence_mode", "hang_status", "clear_status", "relocate_async", "power_off_coordinator", "clock_daemon",
    "clock_jump",
    "disk_full", "disk_free", "restart_other", "second_daemon", "wrong_key", "stop_daemon", "start_daemon",
    "qdisk_lost", "qdisk_readonly", "qdisk_frozen",
    "expect_log", "expect_no_fence", "expect_full_said", "expect_persisted", "expect_wrong_key",
)  # fmt: skip


class Engine(Protocol):
    """What the faults need of the engine (`chaos.Chaos`)."""

    tb: Testbed
    conf: Path
    service: str

    def log(self, line: str) -> None: ...

    def status(self, node: str) -> dict[str, object] | None: ...


class Faults:
    """The actions above for one engine; ``notes`` collects what the ``expect_*`` actions found."""

    def __init__(self, chaos: Engine) -> None:
        self.chaos = chaos
        self.notes: list[str] = []
        self.began = time.time()
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._drops: dict[str, int] = {}
        self._relocation: subprocess.Popen[bytes] | None = None

    @property
    def mode_file(self) -> Path:
        return self.chaos.conf.parent / FENCE_MODE

    def clock_file(self, node: str) -> Path:
        return self.chaos.conf.parent / f"faketime-{node.split('.')[0]}"

    def start_round(self, began: float) -> None:
        self.began, self.notes = began, []

    # ---------------------------------------------------------------- dispatch
    def do(self, step: Step) -> None:
        handler = getattr(self, f"_{step.action}")
        handler(*step.args)

    def undo(self) -> None:
        """Put back what the faults changed, the latest first; a step that cannot is logged, the rest go on."""
        while self._undo:
            what, action = self._undo.pop()
            try:
                action()
            except (TestbedError, OSError, subprocess.SubprocessError) as exc:
                self.chaos.log(f"    could not undo {what}: {exc}")

    def _later(self, what: str, action: Callable[[], None]) -> None:
        self._undo.append((what, action))

    def _name(self, index: object) -> str:
        return self.chaos.tb.nodes[int(index)]  # type: ignore[call-overload]

    # ------------------------------------------------------------------ network
    def _loss(self, index: object, percent: object) -> None:
        self.chaos.tb.loss(self._name(index), int(percent))  # type: ignore[call-overload]

    # ------------------------------------------------------------------ fencing
    def _fence_mode(self, mode: object) -> None:
        self.mode_file.write_text(f"{mode}\n")
        if mode:
            self._later("the fence mode", lambda: self._fence_mode(""))

    # ------------------------------------------------------------------ services
    def _hang_status(self, index: object) -> None:
        node = self._name(index)
        self.chaos.tb.exec(node, ["touch", HANG_STATUS], timeout=10)
        self._later(f"the hanging status on {node}", lambda: self._run_if_powered(node, ["rm", "-f", HANG_STATUS]))

    def _clear_status(self, index: object) -> None:
        self._run_if_powered(self._name(index), ["rm", "-f", HANG_STATUS])

    def _relocate_async(self, index: object) -> None:
        target = self._name(index)
        origin = next(n for n in self.chaos.tb.nodes if n != target and self.chaos.tb.is_powered(n))
        argv = [*CLUSVCADM, "-r", self.chaos.service, "-m", target]
        self._relocation = self.chaos.tb.popen(origin, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._later("the relocation", self._end_relocation)

    def _end_relocation(self) -> None:
        proc, self._relocation = self._relocation, None
        if proc is None:
            return
        try:
            code: int | None = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = self.chaos.tb.end_popen(proc)
        self.chaos.log(f"    clusvcadm -r (in the background): exit {code}")

    def _power_off_coordinator(self) -> None:
        for node in self.chaos.tb.nodes:
            status = self.chaos.status(node)
            if status is None or not status.get("member"):
                continue
            names = {n["nodeid"]: n["name"] for n in status["nodes"]}  # type: ignore[attr-defined]
            coordinator = names.get(status["coordinator"])
            if coordinator is not None:
                self.chaos.log(f"    the coordinator is {coordinator}")
                self.chaos.tb.power_off(coordinator)
                return
        raise TestbedError("no member knows a coordinator")

    # ------------------------------------------------------------------ daemons
    def _stop_daemon(self, index: object) -> None:
        self.chaos.tb.stop_daemon(self._name(index))

    def _start_daemon(self, index: object) -> None:
        if not self.chaos.tb.daemon_running(self._name(index)):
            self.chaos.tb.start_daemon(self._name(index))

    def _restart_other(self, index: object) -> None:
        """Restart the daemon of the first node other than ``index``'s: two view changes for everyone else."""
        other = next(n for n in self.chaos.tb.nodes if n != self._name(index) and self.chaos.tb.is_powered(n))
        self.chaos.tb.stop_daemon(other)
        self.chaos.tb.start_daemon(other)

    def _restart_plain(self, node: str) -> None:
        if self.chaos.tb.is_powered(node):
            self.chaos.tb.stop_daemon(node)
            self.chaos.tb.start_daemon(node)

    def _run_if_powered(self, node: str, argv: list[str]) -> None:
        if self.chaos.tb.is_powered(node):
            self.chaos.tb.exec(node, argv, timeout=20)

    # -------------------------------------------------------------------- clock
    def _clock_daemon(self, index: object) -> None:
        node = self._name(index)
        clock = self.clock_file(node)
        clock.write_text("+0\n")
        env = [
            f"LD_PRELOAD={FAKETIME_LIBRARY}", f"FAKETIME_TIMESTAMP_FILE={clock}", "FAKETIME_DONT_FAKE_MONOTONIC=1",
            "FAKETIME_CACHE_DURATION=1",
        ]  # fmt: skip
        self.chaos.tb.stop_daemon(node)
        self.chaos.tb.start_daemon(node, command=["env", *env, *DAEMON])

        def back_to_real_time() -> None:
            clock.write_text("+0\n")
            self._restart_plain(node)

        self._later(f"the faked clock on {node}", back_to_real_time)

    def _clock_jump(self, index: object, seconds: object) -> None:
        self.clock_file(self._name(index)).write_text(f"{int(seconds):+d}\n")  # type: ignore[call-overload]

    # ---------------------------------------------------------------- full disk
    def _disk_full(self, index: object) -> None:
        node = self._name(index)
        script = (
            f"cp -p {STATE_DIR}/state.json {SAVED_STATE} && mount -t tmpfs -o size={FULL_SIZE},mode=0700 "
            f"chaos-full {STATE_DIR} && cp -p {SAVED_STATE} {STATE_DIR}/state.json && "
            f"(dd if=/dev/zero of={STATE_DIR}/filler bs=4k 2>/dev/null; true)"
        )
        done = self.chaos.tb.exec(node, ["sh", "-c", script], timeout=20)
        if done.returncode != 0:
            raise TestbedError(f"could not fill {STATE_DIR} on {node}: {done.stderr.strip()}")
        self._later(f"the full {STATE_DIR} on {node}", lambda: self._unmount_full(node))

    def _unmount_full(self, node: str) -> None:
        """Back to the node's own directory, keeping what the daemon last wrote on the small file system."""
        if not self.chaos.tb.is_powered(node):
            return  # the mount went with the power; the directory underneath is the node's disk
        shown = self.chaos.tb.exec(node, ["cat", f"{STATE_DIR}/state.json"], timeout=10)
        if shown.returncode == 0 and shown.stdout.strip():
            (self.chaos.tb.node_dir(node) / "var/lib/quorate/state.json").write_text(shown.stdout)
        self.chaos.tb.exec(node, ["umount", "-l", STATE_DIR], timeout=10)

    def _disk_free(self, index: object) -> None:
        self.chaos.tb.exec(self._name(index), ["rm", "-f", f"{STATE_DIR}/filler"], timeout=10)

    def _expect_full_said(self, index: object) -> None:
        node = self._name(index)
        said = chaos_checks.log_times(self.chaos.tb.daemon_log(node), "No space left on device", self.began)
        self.notes += chaos_checks.full_disk_violations(node, self.chaos.tb.daemon_running(node), bool(said))

    def _expect_persisted(self, index: object) -> None:
        node = self._name(index)
        stored, generation = None, None
        for _ in range(20):  # the view change that follows a restart may take a few seconds
            status = self.chaos.status(node)
            shown = self.chaos.tb.exec(node, ["cat", f"{STATE_DIR}/state.json"], timeout=10)
            generation = int(status["generation"]) if status else None  # type: ignore[call-overload]
            try:
                stored = int(json.loads(shown.stdout)["highest_seq"])
            except (ValueError, KeyError, TypeError):
                stored = None
            if stored is not None and generation is not None and stored >= generation:
                break
            time.sleep(0.5)
        self.notes += chaos_checks.persisted_violations(node, stored, generation)

    # ------------------------------------------------------------ second daemon
    def _second_daemon(self, index: object) -> None:
        node = self._name(index)
        first = self.chaos.tb.daemon_pid(node)
        try:
            done = self.chaos.tb.exec(node, DAEMON, timeout=30)
            code, said = done.returncode, (done.stderr + done.stdout).strip()
        except subprocess.TimeoutExpired:
            code, said = None, "still running after 30 s"
        self.chaos.log(f"    second quorated on {node}: exit {code}: {said.splitlines()[-1] if said else ''}")
        time.sleep(1)
        after = self.chaos.tb.daemon_pid(node)
        self.notes += chaos_checks.second_daemon_violations(node, code, said, first, after)

    # ---------------------------------------------------------------- wrong key
    def _wrong_key(self, index: object) -> None:
        node = self._name(index)
        key = self.chaos.tb.node_dir(node) / "etc/cluster/quorate.key"
        right = key.read_bytes()
        self._drops = {n: self._dropped(n) for n in self.chaos.tb.nodes if n != node}
        self.chaos.tb.stop_daemon(node)
        _write_key(key, os.urandom(len(right)))

        def right_key_back() -> None:
            _write_key(key, right)
            self._restart_plain(node)

        self._later(f"the key of {node}", right_key_back)
        self.chaos.tb.start_daemon(node)

    def _dropped(self, node: str) -> int:
        status = self.chaos.status(node)
        if status is None:
            return 0
        transport: dict[str, dict[str, int]] = status["transport"]  # type: ignore[assignment]
        return sum(int(v) for v in transport["dropped"].values())

    def _expect_wrong_key(self, index: object) -> None:
        node = self._name(index)
        status = self.chaos.status(node)
        alone = status is not None and not status["quorate"]
        grew = {n: self._dropped(n) - before for n, before in self._drops.items()}
        logs = [self.chaos.tb.daemon_log(n) for n in self.chaos.tb.nodes]
        started = [t for log in logs for t in chaos_checks.log_times(log, f"started on {node}", self.began)]
        self.notes += chaos_checks.wrong_key_violations(node, alone, grew, started)

    # --------------------------------------------------------------- quorum disk
    def _qdisk_nodes(self, index: object) -> list[str]:
        return list(self.chaos.tb.nodes) if int(index) < 0 else [self._name(index)]  # type: ignore[call-overload]

    def _qdisk_fault(self, index: object, what: str, fault: Callable[[str, str], None]) -> None:
        for node in self._qdisk_nodes(index):
            device = chaos_qdisk.device_of(self.chaos.tb.node_dir(node))
            fault(node, device)
            self._later(f"the {what} quorum disk of {node}", _restorer(device))

    def _qdisk_lost(self, index: object) -> None:
        self._qdisk_fault(index, "lost", lambda _node, device: chaos_qdisk.lose(device))

    def _qdisk_readonly(self, index: object) -> None:
        self._qdisk_fault(index, "read-only", lambda _node, device: chaos_qdisk.make_read_only(device))

    def _qdisk_frozen(self, index: object) -> None:
        def freeze(node: str, device: str) -> None:
            pid = self.chaos.tb.daemon_pid(node)
            if pid is None:
                raise TestbedError(f"no daemon runs on {node}")
            chaos_qdisk.freeze(device, [pid])

        self._qdisk_fault(index, "frozen", freeze)

    # --------------------------------------------------------------- evidence
    def _expect_log(self, text: object, index: object = None, wait: object = 0.0) -> None:
        """A daemon must log ``text`` (``{node}``: the node of ``index``) during the round, within ``wait`` s."""
        marker = str(text).format(node=self._name(index) if index is not None else "")
        deadline = time.monotonic() + float(wait)  # type: ignore[arg-type]
        while True:
            logs = [self.chaos.tb.daemon_log(n) for n in self.chaos.tb.nodes]
            if any(chaos_checks.log_times(log, marker, self.began) for log in logs):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        waited = f" within {float(wait):g} s" if wait else ""  # type: ignore[arg-type]
        self.notes.append(f"no daemon logged {marker!r} during the round{waited}")

    def _expect_no_fence(self) -> None:
        logs = {n: self.chaos.tb.daemon_log(n) for n in self.chaos.tb.nodes}
        self.notes += chaos_checks.quiet_violations(logs, self.began)


def _restorer(device: str) -> Callable[[], None]:
    return lambda: chaos_qdisk.restore(device)


def _write_key(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
