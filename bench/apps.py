"""``python -m bench.apps``: what the clients of Apache and MariaDB see while the cluster moves them (root).

    sudo .venv/bin/python -m bench.apps [--trials 5] [--token 1000] [--json FILE]

One testbed of `quorate.testbed.webdb`'s cluster (service `web`: floating address, ext3 LUN, Apache; service
`db`: floating address, ext3 LUN, MariaDB; fence_netns through the power switch; post_fail_delay 0) at a 1 s
token, and a client host running `quorate.testbed.workload` throughout (a GET and a numbered INSERT every
50 ms). Each trial, in this order: `clusvcadm -r web` to melchior and back, the same for `db`; then for web and
for db, the owner's daemon SIGKILLed (its application keeps serving until the fence powers the node off, then
melchior takes over) and, once the owner is back, its power cut (fence, takeover); after each failover the
node is powered on again and the service fails back to it (those moves are not figures).

Figures, from the client's records (`quorate.testbed.availability`): for a relocation, the unavailability
(first failed attempt to the first success after the last failure), and where its time goes, from the daemons'
log stamps: the stop (clusvcadm to "stopped on", most of it the application's agent stopping it) and the start
("stopped" to "started on" the other node); for a failover, the time from the fault
(the SIGKILL or the power cut) to the client served again, and for a SIGKILL also the unavailability itself
(from the fence's power cut). Targets, judged on the median: relocate web <= 1.5 s of HTTP errors, Apache's
own stop and start included; failover <= token + 1.5 s. Measured and printed, never asserted; a trial that
fails is reported and the next one starts from a clean cluster (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import BenchError, Figure, render, testbed_missing, wait_log
from quorate.testbed import Testbed, TestbedError, availability, luns, webdb
from quorate.testbed.availability import Attempt, Operation
from quorate.testbed.webdb import DB_MOUNT, WEB_MOUNT, B, C, M
from quorate.testbed.webdb_drive import Driver, WaitTimeout, bring_up, placed

PREFIX = "qbapps"
SECRET = "quorate-bench-apps"
TOKEN_MS = 1000
STEP_TIMEOUT = 180.0


def figures(token_ms: int) -> list[Figure]:
    failover = token_ms + 1500
    target = f"<= token + 1.5 s = {failover} ms"
    return [
        Figure("relocate_web", "web: relocate, HTTP unavailable", "ms", 1500, "<= 1500 ms"),
        Figure("relocate_web_stop", "web: relocate, clusvcadm to stopped", "ms", None, "-"),
        Figure("relocate_web_start", "web: relocate, stopped to started", "ms", None, "-"),
        Figure("relocate_db", "db: relocate, SQL unavailable", "ms", None, "-"),
        Figure("relocate_db_stop", "db: relocate, clusvcadm to stopped", "ms", None, "-"),
        Figure("relocate_db_start", "db: relocate, stopped to started", "ms", None, "-"),
        Figure("web_power_off", "web: owner powered off -> served", "ms", failover, target),
        Figure("web_sigkill", "web: owner's daemon killed -> served", "ms", failover, target),
        Figure("web_sigkill_gap", "web: then HTTP unavailable (fence on)", "ms", None, "-"),
        Figure("db_power_off", "db: owner powered off -> served", "ms", failover, target),
        Figure("db_sigkill", "db: owner's daemon killed -> served", "ms", failover, target),
        Figure("db_sigkill_gap", "db: then SQL unavailable (fence on)", "ms", None, "-"),
    ]


class Bench:
    """One testbed and one workload for every trial; the figures come from the client's records at the end."""

    def __init__(self, tb: Testbed, driver: Driver, token_ms: int) -> None:
        self.tb, self.driver, self.token_ms = tb, driver, token_ms
        self.measured: list[tuple[str, str, Operation]] = []  # (figure key, service, operation)
        self.phases: dict[str, list[float]] = {}  # relocations' stop and start, from the daemons' log stamps

    def trial(self) -> None:
        d = self.driver
        for service, home in (("web", B), ("db", C)):
            for old, new in ((home, M), (M, home)):
                operation = d.relocate(service, new)
                self.measured.append((f"relocate_{service}", service, operation))
                self.log_phases(service, operation, old, new)
        for service, home in (("web", B), ("db", C)):
            self.measured.append((f"{service}_sigkill", service, d.kill_daemon(home, service, M)))
            d.boot(home, service)
            self.measured.append((f"{service}_power_off", service, d.power_off(home, service, M)))
            d.boot(home, service)

    def log_phases(self, service: str, operation: Operation, old: str, new: str) -> None:
        """Where a relocation's time goes: the stop on ``old`` (the application's agent, then the address and the
        file system) and the start on ``new``, from the daemons' own log stamps."""
        nodes = [n for n in self.tb.nodes if n not in self.driver.down]
        stopped = wait_log(self.tb, nodes, rf"service:{service} stopped on {re.escape(old)}", operation.started, 30)
        started = wait_log(self.tb, nodes, rf"service:{service} started on {re.escape(new)}", stopped, 30)
        self.phases.setdefault(f"relocate_{service}_stop", []).append((stopped - operation.started) * 1000)
        self.phases.setdefault(f"relocate_{service}_start", []).append((started - stopped) * 1000)

    def recover(self) -> None:
        """After a failed trial: every node on with its daemon, the network healed, services back home."""
        self.tb.heal()
        for node in self.tb.nodes:
            if not self.tb.is_powered(node):
                self.tb.power_on(node, start_daemon=True)
            elif not self.tb.daemon_running(node):
                self.tb.start_daemon(node)
        self.driver.down.clear()
        home = {"web": B, "db": C}
        self.driver.owners = {service: [node] for service, node in home.items()}
        deadline = time.monotonic() + STEP_TIMEOUT
        while not placed(self.tb, home, self.tb.nodes):
            if time.monotonic() > deadline:
                raise WaitTimeout(f"the cluster did not come back to {home}")
            seen = webdb.services(self.tb, self.tb.nodes) or {}
            for service, node in home.items():
                if seen.get(service, ("", ""))[1] != node:
                    self.tb.exec(M, [*webdb.CLUSVCADM, "-r", service, "-m", node], timeout=STEP_TIMEOUT)
            time.sleep(2)
        self.driver.settle(time.time())

    def values(self, attempts: list[Attempt], ended: float) -> dict[str, list[float]]:
        """Milliseconds per figure key (see the module's docstring for what each one counts)."""
        operations = self.driver.operations
        outages = {}
        for service, kind in (("web", "http"), ("db", "sql")):
            found = availability.outages(attempts, kind, service, operations, ended)
            outages[service] = dict(zip(operations, found, strict=True))
        values: dict[str, list[float]] = {key: list(found) for key, found in self.phases.items()}
        for key, service, operation in self.measured:
            outage = outages[service][operation]
            seconds = outage.seconds
            if seconds is None:
                continue  # never back within its window: the trial's failure already says so
            if key.startswith("relocate"):
                values.setdefault(key, []).append(seconds * 1000)
                continue
            back = outage.back_at if outage.back_at is not None else operation.started
            values.setdefault(key, []).append((back - operation.started) * 1000)
            if key.endswith("sigkill"):
                values.setdefault(f"{key}_gap", []).append(seconds * 1000)
        return values


def rows(values: dict[str, list[float]], token_ms: int) -> list[dict[str, Any]]:
    """The rows `bench.common.render` prints, for this benchmark's figures."""
    table = []
    for fig in figures(token_ms):
        found = values.get(fig.key, [])
        row: dict[str, Any] = {
            "token_ms": token_ms, "figure": fig.key, "label": fig.label, "unit": fig.unit, "n": len(found),
            "values": [round(v, 3) for v in found], "target": fig.target, "limit": fig.limit,
        }  # fmt: skip
        if found:
            median = statistics.median(found)
            row.update(min=min(found), median=median, max=max(found))
            row["meets_target"] = None if fig.limit is None else median <= fig.limit
        table.append(row)
    return table


def run(trials: int, token_ms: int, directory: Path) -> tuple[dict[str, list[float]], list[str]]:
    """Every trial on one testbed (printing a line per trial); returns the values and what failed."""
    errors: list[str] = []
    web_lun = luns.attach_image(directory / "www.img", webdb.LUN_MIB)
    db_lun = luns.attach_image(directory / "mysql.img", webdb.LUN_MIB)
    made = [p for p in ("/mnt/magi", WEB_MOUNT, DB_MOUNT) if not os.path.exists(p)]
    try:
        for point in (WEB_MOUNT, DB_MOUNT):
            os.makedirs(point, exist_ok=True)
        page = webdb.page(f"quorate-bench-{uuid.uuid4().hex}")
        webdb.prepare_web_lun(web_lun, page)
        webdb.prepare_db_lun(db_lun)
        conf = directory / "cluster.conf"
        conf.write_text(webdb.cluster_conf(web_lun, db_lun, fence_secret=SECRET, token_ms=token_ms))
        with Testbed.up(conf, prefix=PREFIX) as tb:
            client = bring_up(tb, page, directory, secret=SECRET, timeout=STEP_TIMEOUT)
            driver = Driver(tb, client.records, timeout=STEP_TIMEOUT)
            bench = Bench(tb, driver, token_ms)
            try:
                driver.settle(time.time())
                for number in range(1, trials + 1):
                    began, kept = time.monotonic(), len(bench.measured)
                    phases = {key: list(found) for key, found in bench.phases.items()}
                    try:
                        bench.trial()
                        print(f"  trial {number}/{trials}: {time.monotonic() - began:.0f} s", flush=True)
                    except (WaitTimeout, AssertionError, BenchError, TestbedError, OSError) as exc:
                        del bench.measured[kept:]
                        bench.phases = phases
                        errors.append(f"trial {number}: {str(exc).splitlines()[0]}")
                        print(f"  trial {number}/{trials}: FAILED: {str(exc).splitlines()[0]}", flush=True)
                        bench.recover()
            finally:
                attempts = client.stop()
            values = bench.values(attempts, time.time())
            writes = availability.check_writes(attempts, webdb.table_rows(tb, driver.where()["db"]))
            print(f"  writes: {writes.acknowledged} acknowledged, every one in the table: {not writes.problems}; "
                  f"{writes.in_doubt} in doubt ({writes.in_doubt_present} committed)")  # fmt: skip
            errors += writes.problems
    finally:
        luns.detach(web_lun)
        luns.detach(db_lun)
        for path in reversed(made):
            try:
                os.rmdir(path)
            except OSError:
                pass
    return values, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apps", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--trials", type=int, default=5, help="trials (default 5)")
    parser.add_argument("--token", type=int, default=TOKEN_MS, help="totem token in ms (default 1000)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure and value as JSON")
    args = parser.parse_args(argv)
    if testbed_missing("bench.apps"):
        return 2
    started = time.monotonic()
    print(f"quorate application benchmark: web (Apache) and db (MariaDB), token {args.token} ms, "
          f"{args.trials} trial(s), {os.cpu_count()} cores", flush=True)  # fmt: skip
    directory = Path(tempfile.mkdtemp(prefix="quorate-bench-apps-"))
    directory.chmod(0o755)
    try:
        values, errors = run(args.trials, args.token, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    table = rows(values, args.token)
    print(render(table))
    print(f"\n(targets are judged on the median; {time.monotonic() - started:.0f} s in all)")
    for error in errors:
        print(f"failed: {error}")
    if args.json:
        document = {
            "when": datetime.now().isoformat(timespec="seconds"),
            "host": {"cores": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
            "settings": {"trials": args.trials, "token_ms": args.token},
            "figures": table,
            "errors": errors,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
