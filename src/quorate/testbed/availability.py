"""What a client saw of a service while the cluster moved it: outages, who answered, which writes survived.

Theory of operation: the workload (``workload.py``) records every attempt; the test and the benchmark sample
the floating addresses and read the servers' own logs. The functions here turn those records into verdicts
and figures, with no I/O, so they are unit-tested on made-up records.

* Outages: for each operation (a relocation, a kill...) the window runs from the operation's start to the
  next one's. The unavailability is the time from the start of the first failed attempt in that window to
  the start of the first successful attempt after the last failed one: a request that started early and
  succeeded late (its first SYN lost while the address moved) or a success between two failures does not
  end an outage that new requests still see. Attempts start every period whatever the ones before do, so
  the figure is exact to the period. No failure means no outage (0 s).
  A failed attempt still in flight when the next operation began (an INSERT under way when that operation
  cut the power) belongs to the next operation, unless a later attempt had already succeeded before it
  began: then its failure is the earlier operation's, already over. In the next window it counts from that
  operation's start. Charging it to the earlier one would read as an outage that never ended there.
* Runs: the answers of one service, in time order, grouped into runs by the node that answered. Two nodes
  answering at once would interleave and show as more runs than the ownership changes the test made; the
  expected list of owners is therefore the check, for the client's answers as for the servers' access logs.
* Writes: every number the server acknowledged must be in the table, committed by the node that
  acknowledged it; a row that was never acknowledged may exist only for an attempt that failed after its
  statement was sent (in doubt), and any other row is a phantom.
* Samples: at every look, at most one node holds each floating address and the client's neighbour table
  names at most one MAC for it, a node's.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Attempt:
    """One HTTP request (``kind`` "http", ``seq`` its number) or one INSERT ("sql", ``seq`` the row's number)."""

    kind: str
    seq: int
    t0: float
    t1: float
    ok: bool
    node: str | None = None
    answer: str | None = None
    err: str | None = None
    sent: bool = False


def parse_records(lines: Iterable[str]) -> list[Attempt]:
    """The workload's attempts from its JSON lines (a last line still being written is skipped)."""
    attempts = []
    for line in lines:
        try:
            raw: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        kind = raw.get("k")
        if kind not in ("http", "sql"):
            continue
        attempts.append(
            Attempt(
                kind=kind,
                seq=int(raw["i"] if kind == "http" else raw["n"]),
                t0=float(raw["t0"]),
                t1=float(raw["t1"]),
                ok=bool(raw.get("ok")),
                node=raw.get("node"),
                answer=raw.get("answer"),
                err=raw.get("err"),
                sent=bool(raw.get("sent")),
            )
        )
    return attempts


@dataclass(frozen=True)
class Operation:
    label: str
    started: float


@dataclass(frozen=True)
class Outage:
    """What one service's client saw during one operation."""

    service: str
    operation: str
    failed_from: float | None
    back_at: float | None
    failures: int

    @property
    def seconds(self) -> float | None:
        """Unavailability in seconds: 0.0 without failures, None when the service never came back."""
        if self.failed_from is None:
            return 0.0
        if self.back_at is None:
            return None
        return self.back_at - self.failed_from

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "unavailable_s": None if self.seconds is None else round(self.seconds, 3),
            "first_failure": self.failed_from,
            "first_success_after": self.back_at,
            "failed_attempts": self.failures,
        }


def outages(
    attempts: Iterable[Attempt], kind: str, service: str, operations: Sequence[Operation], until: float
) -> list[Outage]:
    """One ``Outage`` per operation for the attempts of ``kind`` (see the module's docstring)."""
    mine = sorted((a for a in attempts if a.kind == kind), key=lambda a: a.t0)
    found = []
    ends = [op.started for op in operations[1:]] + [until]
    carried: list[Attempt] = []  # failures in flight at this window's start, charged to it
    for index, (op, end) in enumerate(zip(operations, ends, strict=True)):
        window = [a for a in mine if op.started <= a.t0 < end]
        later = index + 1 < len(operations)
        handed = [a for a in window if later and _failed_after(a, end, window)]
        failed = [*carried, *(a for a in window if not a.ok and a not in handed)]
        carried = handed
        if not failed:
            found.append(Outage(service, op.label, None, None, 0))
            continue
        last = failed[-1]
        back = next((a for a in window if a.ok and a.t0 > last.t0), None)
        start = max(failed[0].t0, op.started)
        found.append(Outage(service, op.label, start, back.t0 if back else None, len(failed)))
    return found


def _failed_after(attempt: Attempt, end: float, window: Sequence[Attempt]) -> bool:
    """Whether a failure in flight at ``end`` is the next operation's (no later start succeeded before ``end``)."""
    if attempt.ok or attempt.t1 < end:
        return False
    return not any(a.ok and a.t0 > attempt.t0 and a.t1 < end for a in window)


@dataclass
class Run:
    """Consecutive answers from one node."""

    node: str
    first: float
    last: float
    count: int = 0


def runs(answers: Iterable[tuple[float, str]]) -> list[Run]:
    """(time, node) answers → runs of consecutive answers by one node, in time order."""
    ordered = sorted(answers)
    found = []
    for node, group in itertools.groupby(ordered, key=lambda answer: answer[1]):
        times = [t for t, _node in group]
        found.append(Run(node, times[0], times[-1], len(times)))
    return found


def check_runs(found: Sequence[Run], expected: Sequence[str], what: str) -> list[str]:
    """A problem unless the runs' nodes are exactly ``expected`` (one run per ownership, none overlapping)."""
    nodes = [run.node for run in found]
    if nodes == list(expected):
        return []
    detail = ", ".join(f"{r.node} x{r.count} {r.first:.3f}..{r.last:.3f}" for r in found[:40])
    return [f"{what}: answers came from {nodes}, expected {list(expected)} (runs: {detail})"]


def wrong_answers(attempts: Iterable[Attempt]) -> list[str]:
    """HTTP answers that were not the page (a wrong or empty body, another status, no X-Node): never allowed."""
    return [
        f"request {a.seq} at {a.t0:.3f} answered by {a.node or '?'}: {a.answer}"
        for a in attempts
        if a.kind == "http" and not a.ok and a.answer is not None
    ]


@dataclass
class WriteCheck:
    acknowledged: int = 0
    in_doubt: int = 0
    in_doubt_present: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)


def check_writes(attempts: Iterable[Attempt], rows: dict[int, str]) -> WriteCheck:
    """Compare the INSERTs the client made with the rows the table has (see the module's docstring)."""
    sql = [a for a in attempts if a.kind == "sql"]
    acked = {a.seq: a.node for a in sql if a.ok}
    doubt = {a.seq for a in sql if not a.ok and a.sent}
    result = WriteCheck(acknowledged=len(acked), in_doubt=len(doubt), rows=len(rows))
    result.in_doubt_present = len(doubt & rows.keys())
    missing = sorted(acked.keys() - rows.keys())
    if missing:
        result.problems.append(f"{len(missing)} acknowledged writes are missing from the table: {missing[:50]}")
    phantom = sorted(rows.keys() - acked.keys() - doubt)
    if phantom:
        result.problems.append(f"{len(phantom)} rows were never acknowledged nor sent: {phantom[:50]}")
    moved = sorted(n for n, node in acked.items() if n in rows and rows[n] != node)
    if moved:
        result.problems.append(
            f"{len(moved)} rows were committed by another server than the one that acknowledged them: "
            + ", ".join(f"{n}: acked by {acked[n]}, row says {rows[n]}" for n in moved[:20])
        )
    expected_count = len(acked) + result.in_doubt_present
    if not result.problems and len(rows) != expected_count:
        result.problems.append(f"the table has {len(rows)} rows, expected {expected_count}")
    return result


@dataclass
class Sample:
    """One look at the LAN: which nodes hold each floating address, and the client's MACs for each."""

    at: float
    holders: dict[str, list[str]]
    client_macs: dict[str, list[str]]


def check_samples(samples: Iterable[Sample], node_macs: dict[str, str]) -> list[str]:
    """At every sample, one holder at most per floating address, and at most one MAC, a node's, for it."""
    problems = []
    known = {mac.lower() for mac in node_macs.values()}
    for sample in samples:
        for vip, holders in sample.holders.items():
            if len(holders) > 1:
                problems.append(f"{sample.at:.3f}: {vip} is held by {', '.join(holders)} at once")
        for vip, macs in sample.client_macs.items():
            distinct = {mac.lower() for mac in macs}
            if len(distinct) > 1:
                problems.append(f"{sample.at:.3f}: the client has {len(distinct)} MACs for {vip}: {sorted(distinct)}")
            strangers = distinct - known
            if strangers:
                problems.append(f"{sample.at:.3f}: the client reaches {vip} at {sorted(strangers)}, no node's MAC")
    return problems


def render(found: Sequence[Outage]) -> str:
    """A table: one line per operation, one column per service, seconds of unavailability (and failures)."""
    services = list(dict.fromkeys(o.service for o in found))
    operations = list(dict.fromkeys(o.operation for o in found))
    width = max([len(op) for op in operations] + [9])
    lines = [f"{'operation':<{width}}  " + "  ".join(f"{s + ' unavailable':>24}" for s in services)]
    by_key = {(o.operation, o.service): o for o in found}
    for op in operations:
        cells = []
        for service in services:
            outage = by_key.get((op, service))
            if outage is None:
                cells.append(f"{'-':>24}")
                continue
            seconds = outage.seconds
            text = "never back" if seconds is None else f"{seconds:7.3f} s"
            cells.append(f"{text + f' ({outage.failures} failed)':>24}")
        lines.append(f"{op:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
