"""`quorate timeline` on three testbed nodes (E-1..E-4), one of them with its wall clock 5 s ahead.

casper's daemon runs under libfaketime (+5 s on the wall clock, the monotonic clock left alone, as an NTP
fault would leave it). The service is relocated to melchior, melchior's daemon is killed, balthasar fences
it through the power switch and takes the service over. On casper and balthasar:

* the others measure casper's clock about 5 s ahead (`quorate status --json`, `cman_tool status`'s extra
  line) and log the warning once;
* `quorate timeline --service test` lists the relocation, the eviction, the fence and the takeover in that
  order, each from the node that decided it, with casper's events put back on the others' clock (so the view
  both survivors installed is one line). melchior, dead and out of the view, is not asked: its own events
  (its start of the service) are in its journal only.
"""

from __future__ import annotations

import glob
import json
import signal
import sys
import time

from e2e_helpers import CMAN_TOOL, QUORATE, status, wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)
from test_e2e_services import CLUSVCADM, SECRET, cluster_conf, started_on

from quorate.testbed.power import start_power_switch

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
SKEW = 5.0
# libfaketime preloaded into the daemon alone (a shell sets the variables for the program it becomes): the
# library keeps a semaphore and a shared memory segment per process in /dev/shm, removed when the process exits
# normally, so the test stops that daemon with SIGTERM at the end. The `faketime` wrapper is not used: its
# segments are named after its pid, which is 2 in every node's pid namespace, and two runs collide.
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
SKEWED = [
    "sh", "-c",
    f'LD_PRELOAD="$1" FAKETIME=+{SKEW:g}s FAKETIME_DONT_FAKE_MONOTONIC=1 exec "$2" -m quorate.node.daemon',
    "sh", LIBFAKETIME[0] if LIBFAKETIME else "libfaketimeMT.so.1", sys.executable,
]  # fmt: skip


def _offset(tb, node: str, peer: str) -> float | None:  # type: ignore[no-untyped-def]
    doc = status(tb, node)
    for entry in (doc or {}).get("clock_offsets", []):
        if entry["name"] == peer and entry["samples"] >= 3:
            return float(entry["offset"])
    return None


def _timeline(tb, node: str, *args: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    done = tb.exec(node, [*QUORATE, "timeline", "--since", "10m", "--json", *args], timeout=20)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _find(events: list[dict], start: int, **want: object) -> int:  # type: ignore[type-arg]
    for i in range(start, len(events)):
        event = events[i]
        if all(event[k] == v if k != "reason" else str(v) in event["reason"] for k, v in want.items()):
            return i
    raise AssertionError(f"no event {want} after line {start} in:\n" + "\n".join(
        f"{e['time']} {','.join(e['nodes'])} {e['kind']} {e['subject']} {e['outcome']}: {e['reason']}"
        for e in events))  # fmt: skip


def test_timeline_of_a_relocation_and_a_takeover_with_a_skewed_clock(testbed, lun: str, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert LIBFAKETIME, "libfaketime is missing: scripts/setup.sh installs Debian's faketime"
    tb = testbed(cluster_conf(tmp_path, lun), start_daemons=False)
    start_power_switch(tb, secret=SECRET)
    tb.start_daemon(B)
    tb.start_daemon(C, command=SKEWED)
    tb.start_daemon(M)
    try:
        _story(tb)
    finally:
        if tb.daemon_running(C):
            tb.stop_daemon(C)  # a clean exit: libfaketime removes its /dev/shm segments


def _story(tb) -> None:  # type: ignore[no-untyped-def]
    wait_for("service:test started on balthasar", started_on(tb, B, B), timeout=60)

    # The clock offsets: casper 5 s ahead as balthasar and melchior see it, the others 5 s behind for casper.
    measured = lambda: _offset(tb, B, C)  # noqa: E731
    measured.testbed = tb  # type: ignore[attr-defined]
    seen = wait_for("balthasar measures casper's clock", measured, timeout=20)
    assert abs(seen - SKEW) < 0.5, seen
    back = wait_for("casper measures balthasar's clock", lambda: _offset(tb, C, B), timeout=20)
    assert abs(back + SKEW) < 0.5, back
    calm = _offset(tb, B, M)
    assert calm is not None and abs(calm) < 0.5
    skew_line = tb.exec(B, [*CMAN_TOOL, "status"]).stdout.splitlines()[-1]
    assert skew_line.startswith(f"Clock skew: {C} +"), skew_line
    assert abs(float(skew_line.split()[-2]) - SKEW) < 0.5, skew_line
    assert "Clock skew" not in tb.exec(M, [*CMAN_TOOL, "status"]).stdout.replace(f"Clock skew: {C}", "")
    warnings = [line for line in tb.daemon_log(B).splitlines() if f"E-4: the wall clock of {C} is " in line]
    assert len(warnings) == 1, "balthasar warns once about casper's clock"
    assert " s ahead of this node's" in warnings[0] and "more than 1 s" in warnings[0]

    relocate = tb.exec(B, [*CLUSVCADM, "-r", "test", "-m", M], timeout=120)
    assert relocate.returncode == 0, relocate.stdout + relocate.stderr
    wait_for("service:test started on melchior", started_on(tb, C, M), timeout=60)
    tb.kill(M, signal.SIGKILL)
    wait_for("service:test back on balthasar after the fence", started_on(tb, C, B), timeout=60)
    time.sleep(0.5)  # the executor's "started" event reaches balthasar's journal

    began = time.monotonic()
    doc = _timeline(tb, C, "--service", "test")
    took = time.monotonic() - began
    events = doc["events"]
    assert doc["missing"] == [] and doc["offsets"][B] < -SKEW + 0.5  # melchior is out of the view: not asked
    relocated = _find(events, 0, kind="service", subject="test", outcome="relocated", nodes=[B])
    eviction = _find(events, relocated, kind="view", outcome="installed", reason=f"failed: {{{M}}}")
    assert set(events[eviction]["nodes"]) == {B, C}, "casper's view, on balthasar's clock, is the same line"
    fenced = _find(events, eviction, kind="fence", subject=M, outcome="confirmed", nodes=[B])
    takeover = _find(events, fenced, kind="service", subject="test", outcome="placed", nodes=[B], reason="R-32")
    _find(events, takeover, kind="service", subject="test", outcome="started", nodes=[B])
    # Asked on casper, the timeline is on casper's clock: balthasar's stamps move 5 s forward, casper's stay.
    theirs = [e for e in events if e["nodes"] == [B]]
    assert theirs and all(abs(e["at"] - e["reported_at"] - SKEW) < 0.5 for e in theirs)
    assert all(e["at"] == e["reported_at"] for e in events if e["nodes"] == [C])

    # The same from balthasar, in text: one line per decision, each naming its node(s).
    text = tb.exec(B, [*QUORATE, "timeline", "--since", "10m", "--service", "test"], timeout=20).stdout
    lines = text.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if "service test relocated" in line),
        next(i for i, line in enumerate(lines) if f"failed: {{{M}}}" in line and "balthasar,casper" in line),
        next(i for i, line in enumerate(lines) if f"fence {M} confirmed" in line),
        max(i for i, line in enumerate(lines) if "service test placed" in line and "R-32" in line),
    ]
    assert order == sorted(order), text
    json_skew = _timeline(tb, B, "--node", "casper")
    assert json_skew["offsets"][C] > SKEW - 0.5
    print(f"quorate timeline --service test on casper: {took * 1000:.0f} ms, {len(events)} events")
