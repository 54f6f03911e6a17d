"""The decision journal (E-2): what it keeps, its bounds, a corrupt or failing file, and readers while it writes."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from quorate.core.events import EventRecord
from quorate.node import journal as journal_module
from quorate.node.journal import Journal, read_events


def _event(at: float, *, node: str = "casper", kind: str = "service", subject: str = "test",
           outcome: str = "placed", reason: str = "R-40: starting on casper") -> EventRecord:  # fmt: skip
    return EventRecord(at, node, 3, kind, subject, outcome, reason)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


def _journal(path: Path, clock: Clock, **kw: object) -> tuple[Journal, list[str]]:
    logged: list[str] = []
    journal = Journal(path, log=lambda text, level: logged.append(f"{level}: {text}"), wall=clock, **kw)  # type: ignore[arg-type]
    journal.start()
    return journal, logged


def test_events_come_back_in_time_order_with_the_filters(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.sqlite"
    journal, _ = _journal(path, clock)
    journal.append(_event(30.0, node="melchior", kind="fence", subject="casper", outcome="confirmed", reason="F-26"))
    journal.append(_event(10.0))
    journal.append(_event(20.0, subject="web"))
    journal.append(_event(40.0, kind="votes", subject="cluster", outcome="changed", reason="Q-3"))
    journal.close()
    every, cut = read_events(path)
    assert [e.at for e in every] == [10.0, 20.0, 30.0, 40.0] and not cut
    assert [e.subject for e in read_events(path, service="test")[0]] == ["test", "casper"]  # and the fence
    assert [e.at for e in read_events(path, since=15.0, until=30.0)[0]] == [20.0, 30.0]
    by_node = read_events(path, node="melchior")[0]
    assert [e.kind for e in by_node] == ["fence"]
    about_casper = read_events(path, node="casper", kind="fence")[0]
    assert [e.node for e in about_casper] == ["melchior"]  # decided by melchior, about casper
    newest, cut = read_events(path, limit=2)
    assert [e.at for e in newest] == [30.0, 40.0] and cut
    assert path.stat().st_mode & 0o777 == 0o600
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_decisions_of_one_instant_keep_their_order(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.sqlite"
    journal, _ = _journal(path, clock)
    for outcome in ("scheduled", "run", "confirmed"):  # a fence decided, run and confirmed in one instant
        journal.append(_event(5.0, kind="fence", subject="casper", outcome=outcome, reason="F-20"))
        assert journal.wait_written()  # separate batches too
    journal.append(_event(4.0))
    journal.close()
    assert [e.outcome for e in read_events(path)[0]] == ["placed", "scheduled", "run", "confirmed"]
    assert [e.outcome for e in read_events(path, limit=2)[0]] == ["run", "confirmed"]


def test_a_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    assert read_events(tmp_path / "none.sqlite") == ([], False)


def test_old_events_are_pruned_by_age(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.sqlite"
    journal, _ = _journal(path, clock, max_age=3600.0)
    journal.append(_event(clock.t - 7200))
    journal.append(_event(clock.t - 60))
    assert journal.wait_written()
    journal.prune(clock.t)
    journal.close()
    assert [e.at for e in read_events(path)[0]] == [clock.t - 60]


def test_the_file_stays_near_its_size_bound(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "PRUNE_EVERY", 5)
    path = tmp_path / "journal.sqlite"
    journal, _ = _journal(path, clock, max_bytes=256 * 1024)
    for i in range(6000):
        journal.append(_event(clock.t + i, reason="R-40: " + "x" * 200))
        if i % 200 == 0:
            assert journal.wait_written()
    journal.close()
    events, _ = read_events(path)
    assert 0 < len(events) < 6000 and events[-1].at == clock.t + 5999  # the newest are kept
    assert path.stat().st_size < 2 * 256 * 1024
    assert journal.counters.written == 6000 and journal.counters.errors == 0


def test_a_corrupt_file_is_moved_aside_logged_once_and_replaced(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"this is not a database " * 500)
    journal, logged = _journal(path, clock)
    journal.append(_event(1.0))
    assert journal.wait_written()
    aside = list(tmp_path.glob("journal.sqlite.bad-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert journal.counters.errors == 1 and journal.counters.dropped == 1
    journal.append(_event(2.0))  # within the retry pause: counted, not written, not logged again
    assert journal.wait_written()
    assert journal.counters.dropped == 2 and len(logged) == 1
    assert logged[0].startswith("error: E-2: the decision journal") and "moved aside" in logged[0]
    clock.t += journal_module.RETRY_AFTER + 1
    journal.append(_event(3.0))
    journal.close()
    assert [e.at for e in read_events(path)[0]] == [3.0]


def test_a_failing_disk_does_not_stop_the_appender(tmp_path: Path, clock: Clock) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    journal, logged = _journal(blocker / "journal.sqlite", clock)  # its directory cannot be created
    for i in range(10):
        journal.append(_event(float(i)))
    assert journal.wait_written()
    journal.close()
    assert journal.counters.errors >= 1 and journal.counters.dropped == 10 and len(logged) == 1


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path, clock: Clock,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(journal_module, "QUEUE_LIMIT", 5)
    journal = Journal(tmp_path / "journal.sqlite", wall=clock)  # not started: nothing drains the queue
    for i in range(8):
        journal.append(_event(float(i)))
    assert journal.counters.dropped == 3


def test_readers_see_whole_batches_while_the_writer_writes(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "journal.sqlite"
    journal, _ = _journal(path, clock)
    journal.append(_event(0.0))
    assert journal.wait_written()
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.append(len(read_events(path)[0]))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(1, 3001):
        journal.append(_event(float(i)))
    assert journal.wait_written(20)
    stop.set()
    for t in threads:
        t.join()
    journal.close()
    assert not errors and seen and min(seen) >= 1
    assert len(read_events(path)[0]) == 3001


WRITER = """
import sys, time
from pathlib import Path
from quorate.core.events import EventRecord
from quorate.node.journal import Journal
journal = Journal(Path(sys.argv[1]))
journal.start()
i = 0
while True:
    journal.append(EventRecord(float(i), "casper", 1, "service", "test", "placed", "R-40: " + "x" * 100))
    i += 1
    if i % 500 == 0:
        print(i, flush=True)
        time.sleep(0.001)
"""


def _committed(path: Path) -> bool:
    """Some batch is committed: the kill then lands while later batches are being written."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return bool(db.execute("SELECT count(*) FROM events").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return False


def test_a_daemon_killed_while_writing_leaves_a_sound_journal(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    path = tmp_path / "journal.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        for _ in range(20):  # 10 000 events queued: batches are being committed
            writer.stdout.readline()
        deadline = time.monotonic() + 60  # a loaded machine may not have run the writer thread yet
        while time.monotonic() < deadline and not _committed(path):
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        if writer.stdout is not None:
            writer.stdout.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    events, _ = read_events(path, limit=100_000)
    assert len(events) == rows > 0
    assert [e.at for e in events] == [float(i) for i in range(rows)]  # whole batches, in order, no gap
    journal, logged = _journal(path, Clock(float(rows)))  # the events are recent for this clock: none pruned
    journal.append(_event(1e9))
    journal.close()
    assert logged == [] and len(read_events(path, limit=100_000)[0]) == rows + 1
