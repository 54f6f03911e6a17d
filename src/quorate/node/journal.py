"""The decision journal: every decision event of this node, in SQLite, for `quorate timeline`.

Theory of operation
-------------------
The daemon's event loop must never wait for a disk: a heartbeat delayed by an fsync is a membership fault. So
the loop only puts each event on a queue (`append`, constant time, never blocks); one writer thread takes
whatever has queued up and inserts it in a single transaction (a batch), so a burst of events (a view change
with a hundred services) costs one commit. The queue is bounded: if the disk stalls long enough to fill it, new
events are dropped and counted rather than held in memory without end.

The file is SQLite in WAL mode: readers (`read_events`, from the daemon's thread pool or any process, such as a
copy of the file) never block the writer, and a crash at any point leaves the last committed batch intact
(``synchronous=NORMAL``: a power cut may lose the batches since the last checkpoint, never corrupt the file).

Bounds: after every `PRUNE_EVERY` batches, rows older than ``max_age`` are deleted, then the oldest tenth of
the rows while the file is larger than ``max_bytes``; freed pages are returned with an incremental vacuum, so
the file stays near its bound instead of only ever growing.

Faults: a corrupt file (``file is not a database``, ``malformed``) or a full disk is logged once, counted
(`errors`), and the file (with its -wal and -shm) is moved aside as ``journal.sqlite.bad-<time>``; the next
batch starts a new file. The daemon never stops for its journal, and a journal that keeps failing is retried
at most every `RETRY_AFTER` seconds (events in between are dropped and counted).
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quorate.core.events import EventRecord
from quorate.system.priority import follow_in_this_thread

JOURNAL_NAME = "journal.sqlite"
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_AGE = 30 * 24 * 3600.0
QUEUE_LIMIT = 20_000
BATCH_LIMIT = 1_000
PRUNE_EVERY = 50
RETRY_AFTER = 30.0
READ_LIMIT = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    node TEXT NOT NULL,
    view INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
"""
_STOP = object()


@dataclass
class JournalCounters:
    written: int = 0
    dropped: int = 0
    errors: int = 0
    batches: int = 0
    moved_aside: int = 0


class Journal:
    """The writer side: `start`, `append` from the event loop, `close` at exit (waits for the last batch)."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = DEFAULT_MAX_AGE,
        log: Callable[[str, str], None] = lambda text, level: None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.counters = JournalCounters()
        self._log = log
        self._wall = wall
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._failed_at: float | None = None
        self._complained = False
        self._since_prune = 0

    # --------------------------------------------------------------------------- the event loop's side

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="quorate-journal", daemon=True)
        self._thread.start()

    def append(self, record: EventRecord) -> None:
        """Queue one event for the writer; never blocks (a full queue drops the event and counts it)."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.counters.dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def wait_written(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event has been handled (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.002)
        return not self._queue.unfinished_tasks

    # ------------------------------------------------------------------------------- the writer thread

    def _run(self) -> None:
        follow_in_this_thread()
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch: list[EventRecord] = []
            items = 1
            if first is _STOP:
                stopping = True
            else:
                assert isinstance(first, EventRecord)
                batch.append(first)
            while len(batch) < BATCH_LIMIT and not stopping:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                items += 1
                if item is _STOP:
                    stopping = True
                else:
                    assert isinstance(item, EventRecord)
                    batch.append(item)
            try:
                if batch:
                    self._write(batch)
            finally:
                for _ in range(items):
                    self._queue.task_done()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def _write(self, batch: list[EventRecord]) -> None:
        now = self._wall()
        if self._failed_at is not None and now - self._failed_at < RETRY_AFTER:
            self.counters.dropped += len(batch)
            return
        try:
            db = self._open()
            with db:
                db.executemany(
                    "INSERT INTO events (at, node, view, kind, subject, outcome, reason) VALUES (?,?,?,?,?,?,?)",
                    [(r.at, r.node, r.view, r.kind, r.subject, r.outcome, r.reason) for r in batch],
                )
            self.counters.written += len(batch)
            self.counters.batches += 1
            self._failed_at = None
            self._since_prune += 1
            if self._since_prune >= PRUNE_EVERY:
                self._since_prune = 0
                self.prune(now)
        except (sqlite3.Error, OSError) as exc:  # corrupt, full, unwritable: never the writer thread's end
            self.counters.dropped += len(batch)
            self._fault(exc, now)

    def _open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # effective on a new file only
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.DatabaseError(f"could not switch {self.path} to WAL mode (got {mode})")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM events WHERE id = 0").fetchone()  # a corrupt file says so here
        except sqlite3.Error:
            db.close()
            raise
        db.isolation_level = ""  # `with db:` commits one transaction per batch
        os.chmod(self.path, 0o600)
        self._db = db
        self.prune(self._wall())
        return db

    def prune(self, now: float) -> None:
        """Keep the journal within its age and size bounds (the writer thread's, or a test's, call)."""
        db = self._db
        if db is None:
            return
        with db:
            db.execute("DELETE FROM events WHERE at < ?", (now - self.max_age,))
        for _ in range(20):
            if self._size(db) <= self.max_bytes:
                break
            rows = db.execute("SELECT count(*) FROM events").fetchone()[0]
            if not rows:
                break
            with db:
                db.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)", (max(1, rows // 10),)
                )
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA incremental_vacuum")
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _size(self, db: sqlite3.Connection) -> int:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def _fault(self, exc: sqlite3.Error | OSError, now: float) -> None:
        """A journal that cannot be written: logged once, counted, moved aside; a new file starts later."""
        self.counters.errors += 1
        self._failed_at = now
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        aside = self.path.with_name(f"{self.path.name}.bad-{int(now)}")
        moved = False
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            with contextlib.suppress(FileNotFoundError, OSError):
                source.rename(Path(f"{aside}{suffix}"))
                moved = moved or suffix == ""
        if moved:
            self.counters.moved_aside += 1
        if not self._complained:
            self._complained = True
            where = f"moved aside to {aside}" if moved else "could not be moved aside"
            self._log(
                f"E-2: the decision journal {self.path} failed ({exc}); it was {where} and a new file starts "
                f"within {RETRY_AFTER:g} s; quorated carries on (further journal faults are only counted)",
                "error",
            )


def read_events(
    path: Path,
    *,
    since: float = 0.0,
    until: float = 0.0,
    service: str = "",
    node: str = "",
    kind: str = "",
    limit: int = READ_LIMIT,
) -> tuple[list[EventRecord], bool]:
    """The journal's events in [since, until] (0: open), oldest first, with the filters (empty: any); and
    whether ``limit`` cut the answer (the newest are kept). A missing or unreadable file reads as empty.

    ``node`` keeps what that node decided and what was decided about it; ``service`` keeps the service's events
    and the membership, quorum and fencing events around them, on which its placement depends (rule E-3)."""
    if not Path(path).exists():
        return [], False
    clauses: list[str] = ["at >= ?"]
    args: list[object] = [since]
    if until:
        clauses.append("at <= ?")
        args.append(until)
    if kind:
        clauses.append("kind = ?")
        args.append(kind)
    if node:  # what that node decided, and what was decided about it
        clauses.append("(node = ? OR subject = ?)")
        args.extend((node, node))
    if service:  # the service's own events, and the membership and fencing it depends on
        clauses.append("((kind = 'service' AND subject = ?) OR kind IN ('view', 'quorum', 'fence'))")
        args.append(service)
    query = (
        "SELECT at, node, view, kind, subject, outcome, reason FROM events WHERE "
        + " AND ".join(clauses)
        + " ORDER BY at DESC LIMIT ?"  # walks the index backwards: equal times come newest row first
    )
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error:
        return [], False
    try:
        rows = db.execute(query, (*args, limit + 1)).fetchall()
    except sqlite3.Error:
        return [], False
    finally:
        db.close()
    truncated = len(rows) > limit
    events = [EventRecord(*row) for row in reversed(rows[:limit])]
    return events, truncated
