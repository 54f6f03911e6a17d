"""Decision journal and `quorate timeline` benchmark (root, for the testbed part).

    sudo .venv/bin/python -m bench timeline [--runs 20] [--events 3000] [--journal-events 20000]

1. *Journal write cost*: ``--journal-events`` events appended to a fresh journal (`quorate.node.journal`) as fast
   as the caller can: the figures are what one `append` costs the event loop (it only queues), and what one event
   costs the writer thread until it is committed to the SQLite file (batched; WAL).
2. *`quorate timeline --since 1h`*: a three-node testbed of the article's cluster whose journals were each given
   ``--events`` events spread over the last hour before the daemons started (a very busy hour); the figure is the
   whole-process time of the command on balthasar, interpreter start included (the local daemon asks both
   other members over the cluster transport, merges and formats), then the same with ``--service test``.

Prints figures; asserts nothing. The target for the second figure is 200 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import services
from bench.common import BIN, timed_in_node, wait_log
from quorate.core.events import EventRecord
from quorate.node.journal import JOURNAL_NAME, Journal
from quorate.testbed import Testbed, missing_prerequisites
from quorate.testbed.power import start_power_switch

PREFIX = "qbtl"
KINDS = (
    ("service", "started", "R-70: every resource started on {node}"),
    ("view", "installed", "Q-1: view {n} installed with {{balthasar, casper, melchior}}; quorate: 3 votes, quorum 2"),
    ("fence", "confirmed", "F-26: single succeeded: fenced casper with method single (fence_netns, 0.3 s)"),
    ("votes", "changed", "Q-3: total votes 3 -> 2"),
)


def _events(node: str, count: int, now: float) -> list[EventRecord]:
    out = []
    for i in range(count):
        kind, outcome, reason = KINDS[i % len(KINDS)]
        subject = "test" if kind == "service" else f"view {i}" if kind == "view" else "cluster"
        at = now - 3600 + 3600 * i / count
        out.append(EventRecord(at, node, i // 10, kind, subject, outcome, reason.format(node=node, n=i)))
    return out


def journal_cost(count: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="quorate-bench-journal-"))
    try:
        journal = Journal(directory / JOURNAL_NAME)
        journal.start()
        events = _events("balthasar.localdomain", count, time.time())
        started = time.perf_counter()
        for event in events:
            journal.append(event)
        queued = time.perf_counter() - started
        journal.wait_written(120)
        written = time.perf_counter() - started
        journal.close()
        size = (directory / JOURNAL_NAME).stat().st_size
        print(f"journal: {count} events; append (event loop side) {queued / count * 1e6:.2f} us/event; "
              f"committed (writer thread, batched) {written / count * 1e6:.1f} us/event; "
              f"{journal.counters.batches} batches; file {size / 2**20:.1f} MiB")  # fmt: skip
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def timeline_times(runs: int, events: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="quorate-bench-timeline-"))
    lun = services.make_lun(directory)
    try:
        conf = services.conf_for(directory, lun, 300)
        with Testbed.up(conf, prefix=PREFIX, start_daemons=False) as tb:
            start_power_switch(tb, secret=services.SECRET)
            now = time.time()
            for node in tb.nodes:  # each node's journal, as its daemon will find it under /var/lib/quorate
                path = Path(tb.node_dir(node)) / "var/lib/quorate" / JOURNAL_NAME
                journal = Journal(path)
                journal.start()
                for event in _events(node, events, now):
                    journal.append(event)
                journal.close(60)
            t0 = time.time()
            for node in tb.nodes:
                tb.start_daemon(node)
            wait_log(tb, tb.nodes, services.started_on(services.B), t0, 60)
            for label, extra in (("", []), (" --service test", ["--service", "test"])):
                argv = [str(BIN / "quorate"), "timeline", "--since", "1h", *extra]
                times = timed_in_node(tb, services.B, argv, runs)
                print(f"quorate timeline --since 1h{label}: {len(tb.nodes)} nodes x {events} events; "
                      f"min {min(times):.0f} / median {statistics.median(times):.0f} / max {max(times):.0f} ms "
                      f"over {runs} runs (target 200 ms)")  # fmt: skip
    finally:
        services.detach(lun)
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench timeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--runs", type=int, default=20, help="whole-process runs of the command (default 20)")
    parser.add_argument("--events", type=int, default=3000, help="events per node in the last hour (default 3000)")
    parser.add_argument("--journal-events", type=int, default=20000, help="events for the write cost")
    args = parser.parse_args(argv)
    journal_cost(args.journal_events)
    problems = missing_prerequisites()
    if problems:
        print(f"bench timeline: the testbed part needs {'; '.join(problems)}", file=sys.stderr)
        return 2
    timeline_times(args.runs, args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
