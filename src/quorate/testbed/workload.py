"""A client's workload against the web and db services: a GET and a numbered INSERT every 50 ms, each recorded.

Theory of operation: run on a testbed client host (``python -m quorate.testbed.workload ...`` through
``Testbed.client_popen``), it is what the services' users would do, and it writes down everything they would
see, one JSON line per attempt, so a test can tell afterwards exactly when each service answered, which node
answered, and which writes the server acknowledged.

Every ``period`` a scheduler starts one HTTP attempt and one SQL attempt, each in a thread of its own, so a
request that hangs (the address has no owner, a server is stopping) never delays the next one: the first
attempt that succeeds after an outage starts at most one period after the service is back, and outages are
measured to the period, not to a timeout. Each attempt records when it started and ended (``time.time()``:
the nodes' logs use the same clock, every namespace shares it).

* HTTP: a new connection per request (``Connection: close``), ``GET /``; an attempt succeeds when the answer
  is 200, carries ``X-Node``, and its body is byte for byte the page the test wrote on the shared disk
  (``--expect``). Anything else that answered is recorded as such (``answer``), never as a success.
* SQL: ``INSERT INTO writes (n, node) VALUES (<n>, @@hostname)`` with autocommit, numbers 1, 2, 3... in
  order, each tried once. The INSERT counts as acknowledged only when the server returned OK; the number
  is then the client's proof that the row must exist. An attempt that failed after the statement was sent
  (``sent``) is in doubt: its row may or may not exist. Connections are pooled and dropped after any
  error; each knows the server's host name (``SELECT @@hostname`` at connect).

SIGTERM or SIGINT stops the scheduler; attempts under way finish (within their timeouts) and are recorded
before the program exits 0. ``--lifetime`` bounds a forgotten run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

HTTP_TIMEOUT = 2.0
SQL_TIMEOUT = 3


class Recorder:
    """Appends one JSON object per line to a file, from any thread, flushed at once."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._lock = threading.Lock()

    def __call__(self, **record: Any) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()


def http_attempt(host: str, expect: bytes, record: Recorder, seq: int) -> None:
    began = time.time()
    fields: dict[str, Any] = {"k": "http", "i": seq, "t0": began}
    connection = http.client.HTTPConnection(host, timeout=HTTP_TIMEOUT)  # "address" or "address:port"
    try:
        connection.request("GET", "/", headers={"Connection": "close"})
        answer = connection.getresponse()
        body = answer.read()
        node = answer.getheader("X-Node")
        if answer.status != 200:
            fields.update(ok=False, answer=f"status {answer.status}", node=node)
        elif body != expect:
            fields.update(ok=False, answer=f"wrong body ({len(body)} bytes): {body[:120]!r}", node=node)
        elif not node:
            fields.update(ok=False, answer="no X-Node header", node=None)
        else:
            fields.update(ok=True, answer="page", node=node)
    except (OSError, http.client.HTTPException) as exc:
        fields.update(ok=False, err=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    record(t1=time.time(), **fields)


class SqlClient:
    """Numbered INSERTs over a small pool of connections; a connection with an error is never reused."""

    def __init__(self, host: str, user: str, password: str, database: str, record: Recorder) -> None:
        self.host, self.user, self.password, self.database = host, user, password, database
        self.record = record
        self._idle: list[tuple[Any, str]] = []
        self._lock = threading.Lock()

    def _connect(self) -> tuple[Any, str]:
        import pymysql  # type: ignore[import-untyped]  # only the SQL side of the workload needs it

        connection = pymysql.connect(
            host=self.host,
            user=self.user,
            password=self.password,
            database=self.database,
            autocommit=True,
            connect_timeout=SQL_TIMEOUT,
            read_timeout=SQL_TIMEOUT,
            write_timeout=SQL_TIMEOUT,
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT @@hostname")
                (server,) = cursor.fetchone()
        except Exception:
            connection.close()
            raise
        return connection, str(server)

    def attempt(self, number: int) -> None:
        import pymysql

        began = time.time()
        fields: dict[str, Any] = {"k": "sql", "n": number, "t0": began, "sent": False}
        connection = None
        try:
            with self._lock:
                pooled = self._idle.pop() if self._idle else None
            connection, server = pooled or self._connect()
            fields["node"] = server
            fields["sent"] = True
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO writes (n, node) VALUES (%s, @@hostname)", (number,))
            fields["ok"] = True
            with self._lock:
                self._idle.append((connection, server))
            connection = None
        except (OSError, pymysql.MySQLError) as exc:
            fields.update(ok=False, err=f"{type(exc).__name__}: {exc}")
        finally:
            if connection is not None:
                try:
                    connection.close()
                except Exception:
                    pass  # already broken: closing is only tidiness
        self.record(t1=time.time(), **fields)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _server in idle:
            try:
                connection.close()
            except Exception:
                pass


def schedule(period: float, stop: threading.Event, jobs: list[Callable[[int], None]]) -> list[threading.Thread]:
    """Start every job with a sequence number 1, 2, 3... each ``period`` on the monotonic clock until ``stop``;
    ticks missed by a stalled scheduler are skipped, not bunched. Returns the threads still running."""
    running: list[threading.Thread] = []
    seq = 0
    due = time.monotonic()
    while not stop.is_set():
        seq += 1
        for job in jobs:
            thread = threading.Thread(target=job, args=(seq,), daemon=True)
            thread.start()
            running.append(thread)
        running = [t for t in running if t.is_alive()]
        due += period
        now = time.monotonic()
        if due < now:
            due = now + period - (now - due) % period
        stop.wait(due - now)
    return running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web", help="the web service's address[:port] (HTTP GET /, port 80 by default)")
    parser.add_argument("--expect", type=Path, help="file holding the exact page the web service must serve")
    parser.add_argument("--db", help="the db service's address (MariaDB on port 3306)")
    parser.add_argument("--user", default="quorate")
    parser.add_argument("--password-file", type=Path, help="file holding the db user's password")
    parser.add_argument("--database", default="quorate")
    parser.add_argument("--period", type=float, default=0.05, help="seconds between attempts (each service)")
    parser.add_argument("--out", type=Path, required=True, help="where to append the JSON records")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop after this many seconds anyway")
    args = parser.parse_args(argv)
    if bool(args.web) != bool(args.expect) or bool(args.db) != bool(args.password_file):
        parser.error("--web needs --expect and --db needs --password-file")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    timer = threading.Timer(args.lifetime, stop.set)
    timer.daemon = True
    timer.start()
    with open(args.out, "a", encoding="utf-8") as handle:
        record = Recorder(handle)
        jobs: list[Callable[[int], None]] = []
        if args.web:
            expect = args.expect.read_bytes()
            jobs.append(lambda seq: http_attempt(args.web, expect, record, seq))
        sql = None
        if args.db:
            password = args.password_file.read_text().strip()
            sql = SqlClient(args.db, args.user, password, args.database, record)
            jobs.append(sql.attempt)
        record(k="start", t0=time.time(), period=args.period)
        for thread in schedule(args.period, stop, jobs):
            thread.join(timeout=2 * SQL_TIMEOUT + 5)
        if sql is not None:
            sql.close()
        record(k="stop", t0=time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main())
