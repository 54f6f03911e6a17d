"""The quorum-disk service of one node, pure: qdiskd's loop with every disk transfer as an effect.

Theory of operation
-------------------
`QdiskCore` decides one cycle at a time; this driver is what turns it into a service: it opens the disk,
paces the cycles, asks for the read, feeds the result to the core, asks for the writes in the order `stage`
gives, and releases a grant only once they landed. The shell carries out `OpenDisk`, `ReadDisk` and
`WriteDisk` with deadlines in a worker thread (a hung LUN must never block heartbeats) and answers with
`DiskOpened`, `DiskRead` and `DiskWritten`.

| phase    | input                         | effects                                         | next     |
|----------|-------------------------------|-------------------------------------------------|----------|
| OPENING  | DiskOpened ok                 | (first cycle due now)                           | WAITING  |
| OPENING  | DiskOpened failed             | log; StopCman if ``stop_cman``                  | FAILED   |
| WAITING  | the cycle's deadline          | ``begin``'s withdrawals; ReadDisk(interval / 2) | READING  |
| READING  | DiskRead                      | ``cycle``: withdrawals now; WriteDisk           | WRITING  |
| WRITING  | DiskWritten ok                | ``release``: the grant                          | WAITING  |
| WRITING  | DiskWritten failed            | ``io_error``: votes withdrawn                   | WAITING  |
| any      | stop                          | ``stop``: votes 0, WriteDisk(NONE), CloseDisk   | STOPPED  |

Between cycles three things can only take votes away, at once: a view change (`membership_changed`), a
wake-up after the process was frozen (the lease watch calls ``begin`` every quarter interval), and a failed
write. Heuristics run on their own schedule (`HeuristicTracker`) and the cycle reads the current score.

What this module deliberately does not know: block encoding and wall-clock stamps (the shell's), and what
the votes do (the node core gives them to membership).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from quorate.core.effects import Log
from quorate.core.node_io import (
    CloseDisk,
    DiskOpened,
    DiskRead,
    DiskStatusFile,
    DiskWritten,
    OpenDisk,
    ReadDisk,
    RunHeuristic,
    WriteDisk,
)
from quorate.core.qdisk import QdiskCore
from quorate.core.qdisk_config import QdiskSettings
from quorate.core.qdisk_effects import QdiskEffect, StopCman, stage
from quorate.core.qdisk_score import HeuristicTracker

DriverEffect = (
    QdiskEffect | OpenDisk | ReadDisk | WriteDisk | CloseDisk | DiskStatusFile | RunHeuristic
)


class Phase(enum.Enum):
    OPENING = "opening"
    FAILED = "failed"
    WAITING = "waiting"
    READING = "reading"
    WRITING = "writing"
    STOPPING = "stopping"
    STOPPED = "stopped"


class QdiskDriver:
    """One start of the quorum-disk service. A restart (new settings) is a new driver and a new incarnation."""

    def __init__(self, settings: QdiskSettings, local_id: int, node_ids: Iterable[int], token_ms: int | None) -> None:
        self.settings = settings
        self.local_id = local_id
        self.node_ids = tuple(node_ids)
        self.token_ms = token_ms
        self.interval = float(settings.interval)
        self.phase = Phase.OPENING
        self.core: QdiskCore | None = None
        self.tracker = HeuristicTracker(settings.heuristics)
        self.path = ""
        self.error: str | None = None
        self.last_error: str | None = None
        self.cycle_start = 0.0
        self._later: list[QdiskEffect] = []
        self._write_ok = True  # the last cycle's writes landed: the next cycle's I/O counts as working
        self._next_watch = 0.0
        self._effects: list[DriverEffect] = [OpenDisk(settings)]

    # ------------------------------------------------------------------------------------- inputs

    def opened(self, now: float, report: DiskOpened) -> None:
        if self.phase is not Phase.OPENING:
            return
        if not report.ok:
            self.phase, self.error = Phase.FAILED, report.error
            self._effects.append(Log(f"Quorum disk not started: {report.error}", "error"))
            if self.settings.stop_cman:
                self._effects.append(StopCman(f"the quorum disk could not start ({report.error}) and stop_cman is set"))
            return
        self.path = report.path
        self.core = QdiskCore(
            self.settings, self.local_id, self.node_ids, incarnation=report.incarnation, token_ms=self.token_ms
        )
        label = f" (label '{report.label}')" if report.label else ""
        self._effects.append(
            Log(f"Quorum disk {report.path}{label} opened; node {self.local_id}, incarnation {report.incarnation:016x}")
        )
        self.phase = Phase.WAITING
        self._next_watch = now + self.interval / 4

    def tick(self, now: float, members: frozenset[int], quorate: bool) -> None:
        """Time passed: heuristics due, the lease watch, and the next cycle when it is due."""
        for index in self.tracker.due(now):
            self.tracker.started(index, now)
            item = self.tracker.items[index]
            self._effects.append(RunHeuristic(index, item.program, max(item.interval, 0.5)))
        core = self.core
        if core is None or self.phase in (Phase.STOPPING, Phase.STOPPED):
            return
        if now >= self._next_watch:
            self._next_watch = now + self.interval / 4
            self._effects.extend(core.begin(now))
        if self.phase is Phase.WAITING and not core.halted:
            due = core.next_deadline()
            if due is None or now >= due:
                self.cycle_start = now
                self._effects.extend(core.begin(now))
                self._effects.append(ReadDisk(self.interval / 2))
                self.phase = Phase.READING

    def read_done(self, now: float, report: DiskRead, members: frozenset[int], quorate: bool) -> None:
        core = self.core
        if core is None or self.phase is not Phase.READING:
            return
        if not report.ok:
            self._note_error(f"read: {report.error}")
        score, score_max = self.tracker.score()
        io_ok = report.ok and self._write_ok
        effects = core.cycle(now, report.blocks if report.ok else {}, io_ok, score, score_max, members, quorate)
        at_once, writes, self._later = stage(effects)
        self._effects.extend(at_once)
        if writes and not core.halted:
            budget = max(self.cycle_start + self.interval - now, 0.01)
            self._effects.append(WriteDisk(tuple(writes), budget))
            self.phase = Phase.WRITING
            return
        self._cycle_over(now, writes_ok=True, error="")

    def write_done(self, now: float, report: DiskWritten) -> None:
        if self.phase is Phase.STOPPING:
            self.phase = Phase.STOPPED
            self._effects.append(CloseDisk())
            return
        if self.core is None or self.phase is not Phase.WRITING:
            return
        self._cycle_over(now, writes_ok=report.ok, error=report.error)

    def heuristic_done(self, now: float, index: int, ok: bool, detail: str) -> None:
        if 0 <= index < len(self.tracker.items):
            self._effects.extend(self.tracker.finished(index, now, ok, detail))

    def membership_changed(self, now: float, members: frozenset[int], quorate: bool) -> None:
        if self.core is not None:
            self._effects.extend(self.core.membership_changed(now, members, quorate))

    def update_settings(self, settings: QdiskSettings) -> None:
        """Settings qdiskd re-read on a configuration change (votes, reboot, allow_kill...): next cycle on."""
        self.settings = settings
        if self.core is not None:
            self.core.config = settings

    def stop(self, now: float) -> None:
        """Clean stop: votes given back, the block written NONE (so nobody evicts this node), then closed."""
        if self.core is None or self.phase in (Phase.STOPPING, Phase.STOPPED):
            if self.phase is Phase.OPENING or self.phase is Phase.FAILED:
                self.phase = Phase.STOPPED
            return
        at_once, writes, _later = stage(self.core.stop(now))
        self._effects.extend(at_once)
        if writes and self.phase is not Phase.READING and self.phase is not Phase.WRITING:
            self._effects.append(WriteDisk(tuple(writes), self.interval))
            self.phase = Phase.STOPPING
        else:  # a transfer is still under way (the worker is busy): close without the last write
            self.phase = Phase.STOPPED
            self._effects.append(CloseDisk())

    # ------------------------------------------------------------------------------------ outputs

    def take_effects(self) -> list[DriverEffect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        times: list[float] = []
        heuristic = self.tracker.next_deadline()
        if heuristic is not None:
            times.append(heuristic)
        core = self.core
        if core is not None and self.phase in (Phase.WAITING, Phase.READING, Phase.WRITING) and not core.halted:
            times.append(self._next_watch)
            due = core.next_deadline()
            if self.phase is Phase.WAITING and due is not None:
                times.append(due)
        return min(times) if times else None

    @property
    def votes(self) -> int:
        return self.core.votes if self.core is not None else 0

    def status(self, now: float) -> dict[str, object]:
        out: dict[str, object] = {"device": self.path or None, "label": getattr(self.settings, "label", None)}
        if self.core is not None:
            out.update(self.core.status(now).as_dict())
        out["phase"] = self.phase.value
        out["last_error"] = self.last_error
        return out

    # ---------------------------------------------------------------------------------- internals

    def _cycle_over(self, now: float, *, writes_ok: bool, error: str) -> None:
        core = self.core
        assert core is not None
        self._write_ok = writes_ok
        if writes_ok:
            self._effects.extend(core.release(self._later))
        else:
            self._note_error(error)
            self._effects.extend(core.io_error(now, error))
        self._later = []
        self.phase = Phase.WAITING
        path = getattr(self.settings, "status_file", None)
        if path:
            self._effects.append(DiskStatusFile(path, core.status(now).as_dict()))

    def _note_error(self, text: str) -> None:
        """Log an I/O error once per distinct text: a failing LUN fails every cycle the same way."""
        if text != self.last_error:
            self._effects.append(Log(f"Quorum disk {self.path}: {text}", "warning"))
        self.last_error = text

