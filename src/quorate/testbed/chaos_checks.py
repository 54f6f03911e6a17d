"""What `quorate chaos` checks, judged from evidence the cluster did not produce about itself.

Theory of operation: the service's program appends ``<date> <hostname> <loop>`` to a file on the shared disk
every ``period`` seconds (``<loop>``: the loop's process id and start time), so the disk itself tells who held
it when. Two consecutive lines of one loop show that it ran between them: another loop's line in between
means two writers on the shared file system at once (two hosts, or two loops on one host). Fencing is judged
by times: no other host may write while the old owner still had power (as the testbed saw it), and the new
owner's "started" log line must come after the fence was confirmed. A node cut off from the quorate side must
stop writing within a grace period. Configuration versions are read from each node's own file on disk, not
from the daemons.

Everything here is pure: lines and times in, a list of violations (plain sentences) out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

WRITE_LINE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (\S+)(?: (\S+))?\s*$")
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")
CONFIG_VERSION = re.compile(rb"<cluster\b[^>]*\bconfig_version=\"(\d+)\"")


@dataclass(frozen=True)
class Write:
    """One line the service's program wrote: when (epoch seconds) and from which host."""

    time: float
    host: str
    loop: str = ""  # the writing loop's identity (process id and start time): lines of one loop share it


@dataclass(frozen=True)
class Run:
    """A stretch of lines by one host with no gap longer than the split gap."""

    host: str
    first: float
    last: float
    lines: int


def _stamp(text: str) -> float:
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text[:26], fmt).timestamp()


def parse_writes(text: str) -> list[Write]:
    """Every well-formed ``<date> <host>`` line of the shared file, in file order (other lines are ignored)."""
    writes = []
    for line in text.splitlines():
        found = WRITE_LINE.search(line)
        if found:
            writes.append(Write(_stamp(found[1]), found[2], found[3] or ""))
    return writes


def runs(writes: Sequence[Write], period: float) -> list[Run]:
    """Each host's runs: its lines split wherever two of them are more than 2.5 periods apart."""
    split = 2.5 * period
    out: list[Run] = []
    by_host: dict[str, list[float]] = {}
    for write in writes:
        by_host.setdefault(write.host, []).append(write.time)
    for host, times in by_host.items():
        times.sort()
        start = prev = times[0]
        count = 1
        for t in times[1:]:
            if t - prev > split:
                out.append(Run(host, start, prev, count))
                start, count = t, 0
            prev = t
            count += 1
        out.append(Run(host, start, prev, count))
    return sorted(out, key=lambda r: (r.first, r.host))


def writer_violations(writes: Sequence[Write], period: float) -> list[str]:
    """Two hosts writing in the same stretch of time, or one host writing twice as often as one loop can.

    Two consecutive lines of one loop (same host, same loop identity) prove it ran all along between them:
    a line of any other loop in between is a second writer. Without loop ids, one loop sleeping a whole period
    between lines, two lines of one host one to 1.5 periods apart stand for one loop; lines closer than a period
    come from two loop instances (a stop and a new start between them), which proves nothing either way. Runs
    with far more lines than their length allows are two loops on one host.
    """
    found = []
    ordered = sorted(writes, key=lambda w: w.time)
    last_of: dict[str, Write] = {}
    clashes: dict[tuple[str, str], tuple[str, int]] = {}  # per pair of hosts: the first clash, how many
    for index, write in enumerate(ordered):
        before = last_of.get(write.host) if not write.loop else last_of.get(f"{write.host} {write.loop}")
        same_loop = before is not None and (
            write.loop != "" or period - 0.01 <= write.time - before.time <= 1.5 * period
        )
        if before is not None and same_loop:
            between = [w for w in ordered[:index] if w.time > before.time]
            for intruder in [w for w in between if (w.host, w.loop) != (write.host, write.loop)]:
                pair = (min(intruder.host, write.host), max(intruder.host, write.host))
                if intruder.host == write.host:
                    pair = (write.host, f"{write.host} again")
                first, count = clashes.get(pair, (
                    f"{intruder.host} wrote at {_clock(intruder.time)} while {write.host} wrote at "
                    f"{_clock(before.time)} and {_clock(write.time)}", 0))  # fmt: skip
                clashes[pair] = (first, count + 1)
        last_of[write.host if not write.loop else f"{write.host} {write.loop}"] = write
    for first, count in clashes.values():
        found.append(f"two writers on the shared disk: {first} ({count} such lines)")
    for one in runs(writes, period):
        allowed = (one.last - one.first) / period * 1.4 + 2
        if one.lines > allowed:
            found.append(
                f"two loops on {one.host}: {one.lines} lines in {one.last - one.first:.1f} s "
                f"(one loop writes every {period:g} s)"
            )
    return found


def silent_violations(writes: Sequence[Write], hosts: Iterable[str], start: float, end: float) -> list[str]:
    """Lines by ``hosts`` between ``start`` and ``end``: a node outside the quorate view kept its service."""
    cut_off = set(hosts)
    late = [w for w in writes if w.host in cut_off and start <= w.time <= end]
    if not late:
        return []
    first = late[0]
    return [
        f"{first.host} wrote the shared disk at {_clock(first.time)} although it was outside the quorate view "
        f"since {_clock(start)} ({len(late)} such lines)"
    ]


def takeover_violations(
    writes: Sequence[Write],
    powered_off: Mapping[str, float],
    fence_confirmed: Mapping[str, float],
    started: Mapping[str, Sequence[float]],
    released: Mapping[str, Sequence[float]] | None = None,
) -> list[str]:
    """A host that took the disk over from one that lost power must have started after the power went out
    and after the fence was confirmed (times in epoch seconds; ``started`` holds each host's "started" log times,
    of which the first after the old owner's last line counts).

    The old owner is a host that wrote before its power-off; another host writing after the old owner took
    the disk and before the power went out is a violation. The new owner is the first other host writing
    after the old owner's last line. ``released`` gives each host's "stopped on" log times: an old owner that
    stopped the service between its last line and the new owner's first one handed it over, and is not judged
    (the one place where the cluster's word is taken, since a clean stop leaves no trace on the disk).
    """
    found = []
    for victim, off_at in powered_off.items():
        before = [w for w in writes if w.host == victim and w.time <= off_at]
        if not before:
            continue  # the victim did not hold the disk
        after = [w for w in writes if w.time > before[-1].time and w.host != victim]
        if not after:
            continue
        heir = after[0]
        if any(before[-1].time <= t <= heir.time for t in (released or {}).get(victim, ())):
            continue  # the old owner stopped the service cleanly before the new one started: a hand-over
        held_since = max((w.time for w in writes if w.time <= before[-1].time and w.host != victim), default=0.0)
        early = [w for w in writes if w.host != victim and held_since < w.time < off_at]
        if early:
            found.append(
                f"{early[0].host} wrote the shared disk at {_clock(early[0].time)}, before {victim} lost power at "
                f"{_clock(off_at)}"
            )
        confirmed = fence_confirmed.get(victim)
        began = min((t for t in started.get(heir.host, ()) if t >= before[-1].time), default=None)
        if confirmed is not None and began is not None and began < confirmed:
            found.append(
                f"{heir.host} started the service at {_clock(began)}, before the fence of {victim} was "
                f"confirmed at {_clock(confirmed)}"
            )
    return found


def log_times(log: str, marker: str, since: float) -> list[float]:
    """Times (epoch seconds) of the daemon log lines containing ``marker``, at or after ``since``."""
    times = []
    for line in log.splitlines():
        if marker in line:
            stamp = LOG_STAMP.match(line)
            if stamp:
                t = _stamp(stamp[1])
                if t >= since:
                    times.append(t)
    return times


def config_version(text: bytes) -> int | None:
    """The ``config_version`` of a cluster.conf's root element, None if it has none."""
    found = CONFIG_VERSION.search(text)
    return int(found[1]) if found else None


def version_violations(on_disk: Mapping[str, int | None], at_least: int) -> list[str]:
    """Every node must hold one and the same configuration version, and none below ``at_least``."""
    found = []
    versions = {v for v in on_disk.values()}
    if len(versions) > 1:
        listed = ", ".join(f"{node} {version}" for node, version in sorted(on_disk.items()))
        found.append(f"nodes disagree on the configuration version: {listed}")
    lost = sorted(node for node, version in on_disk.items() if version is None or version < at_least)
    if lost:
        found.append(f"configuration version {at_least} lost on {', '.join(lost)}")
    return found


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


# ------------------------------------------------------------------------------ evidence of single faults


def quiet_violations(logs: Mapping[str, str], since: float) -> list[str]:
    """No node may have scheduled or carried out a fence since ``since`` (a fault that must evict nobody)."""
    found = []
    for node, log in sorted(logs.items()):
        lines = [line for line in log.splitlines() if "fence of " in line and log_times(line, "fence of ", since)]
        if lines:
            found.append(f"{node} fenced during a fault that must evict nobody: {lines[0].split(': ', 1)[-1]}")
    return found


def full_disk_violations(node: str, running: bool, said: bool) -> list[str]:
    """A node whose state directory is full keeps running and says why it cannot persist."""
    found = []
    if not running:
        found.append(f"the daemon of {node} stopped when its state directory filled up")
    if not said:
        found.append(f"the daemon of {node} did not report that its state directory is full")
    return found


def persisted_violations(node: str, stored: int | None, generation: int | None) -> list[str]:
    """Once space is back, the state file must hold the node's current view generation (or a later one)."""
    if generation is None:
        return [f"{node} did not answer after space was freed in its state directory"]
    if stored is None or stored < generation:
        return [
            f"{node} did not persist its view generation {generation} once space was freed "
            f"(the state file holds {stored if stored is not None else 'nothing readable'})"
        ]
    return []


def second_daemon_violations(
    node: str, exit_code: int | None, said: str, first_before: int | None, first_after: int | None
) -> list[str]:
    """A second quorated on a node must refuse to start, saying another one runs, and leave the first alone."""
    found = []
    if exit_code is None or exit_code == 0:
        found.append(f"a second quorated on {node} did not refuse to start (exit {exit_code})")
    elif "another quorated" not in said:
        found.append(f"a second quorated on {node} refused without saying another one runs: {said[-200:]!r}")
    if first_before is None or first_after != first_before:
        found.append(f"the first quorated on {node} did not survive a second start ({first_before} -> {first_after})")
    return found


def wrong_key_violations(
    node: str, alone: bool, dropped_since: Mapping[str, int], started: Sequence[float]
) -> list[str]:
    """A node with the wrong key: not quorate on its own, its datagrams dropped and counted by the others, and
    it starts no service."""
    found = []
    if not alone:
        found.append(f"{node}, with a key the others do not share, is quorate (or did not answer)")
    deaf = sorted(n for n, grew in dropped_since.items() if grew <= 0)
    if deaf:
        found.append(f"{', '.join(deaf)} counted no dropped datagram from {node} and its wrong key")
    if started:
        found.append(f"{node} started a service with the wrong key at {_clock(started[0])}")
    return found
