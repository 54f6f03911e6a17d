"""cman_tool: the original command set on top of quorated (spec rhcs.md 2.3, 2.6, 2.7, 6.3).

Only the standard library is imported on this path: `cman_tool status` is run by monitoring scripts every
few seconds and must cost little more than the interpreter's start.
"""

from __future__ import annotations

import getopt
import os
import shutil
import subprocess
import sys
import time

from quorate.cli import client
from quorate.cli.cman_format import format_nodes, format_status

PROG = "cman_tool"
NOT_RUNNING = f"{PROG}: Cannot open connection to cman, is it running ?"

USAGE = f"""Usage:

{PROG} <join|leave|kill|expected|votes|version|wait|status|nodes|services|debug> [options]

Commands:
  status               Show local record of cluster status
  nodes [-a] [-n name] Show local record of cluster nodes
  expected -e <votes>  Tell the cluster to lower its expected votes
  leave [remove] [force]  Leave the cluster cleanly (remove: the others lower their expected votes)
  join [-w] [-q] [-t s]   Rejoin the cluster (starts quorated through systemd when it is not running)
  wait [-q] [-t s]     Wait until this node is a member (-q: and quorate)
  version              Show the protocol version and the running config version
"""


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def _status_or_none() -> dict | None:
    try:
        return client.status()
    except client.NotRunning:
        return None


def cmd_status(args: list[str]) -> int:
    s = _status_or_none()
    if s is None:
        print(NOT_RUNNING, file=sys.stderr)
        return 1
    sys.stdout.write(format_status(s))
    return 0


def cmd_nodes(args: list[str]) -> int:
    opts, _ = getopt.getopt(args, "afn:F:")
    s = _status_or_none()
    if s is None:
        print(NOT_RUNNING, file=sys.stderr)
        return 1
    flags = dict(opts)
    sys.stdout.write(format_nodes(s, addresses="-a" in flags, only=flags.get("-n")))
    return 0


def cmd_version(args: list[str]) -> int:
    s = _status_or_none()
    if s is None:
        print(NOT_RUNNING, file=sys.stderr)
        return 1
    print(f"{s['protocol_version']} config {s['config_version']}")
    return 0


def cmd_expected(args: list[str]) -> int:
    opts, rest = getopt.getopt(args, "e:")
    value = dict(opts).get("-e") or (rest[0] if rest else None)
    if value is None or not value.isdigit() or int(value) < 1:
        return _fail("expected -e needs a positive number of votes")
    try:
        client.request("expected", votes=int(value))
    except client.NotRunning:
        print(NOT_RUNNING, file=sys.stderr)
        return 1
    except client.RequestFailed as exc:
        return _fail(f"can't set expected votes: {exc}")
    return 0


def cmd_leave(args: list[str]) -> int:
    _opts, rest = getopt.getopt(args, "wt:")
    try:
        client.request("leave", remove="remove" in rest, force="force" in rest)
    except client.NotRunning:
        print(NOT_RUNNING, file=sys.stderr)
        return 1
    except client.RequestFailed as exc:
        return _fail(f"Error leaving cluster: {exc}")
    return 0


def _wait(quorate: bool, timeout: float | None) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        s = _status_or_none()
        if s is not None and s["member"] and (s["quorate"] or not quorate):
            return 0
        if deadline is not None and time.monotonic() >= deadline:
            return _fail("timed out waiting for " + ("quorum" if quorate else "membership"), 2)
        time.sleep(0.2)


def cmd_join(args: list[str]) -> int:
    opts, _ = getopt.getopt(args, "wqt:c:n:N:v:e:2m:k:p:X")
    flags = dict(opts)
    timeout = float(flags["-t"]) if "-t" in flags else None
    try:
        client.request("join")
    except client.NotRunning:
        systemctl = shutil.which("systemctl")
        if not (systemctl and os.path.isdir("/run/systemd/system")):
            return _fail("quorated is not running: start it (quorated runs in the foreground) and retry")
        started = subprocess.run([systemctl, "start", "quorated"], check=False)
        if started.returncode != 0:
            return _fail("'systemctl start quorated' failed: see 'journalctl -u quorated'")
    except client.RequestFailed as exc:
        if "already" not in str(exc):
            return _fail(f"Error joining cluster: {exc}")
    if "-w" in flags or "-q" in flags:
        return _wait("-q" in flags, timeout)
    return 0


def cmd_wait(args: list[str]) -> int:
    opts, _ = getopt.getopt(args, "qt:")
    flags = dict(opts)
    return _wait("-q" in flags, float(flags["-t"]) if "-t" in flags else None)


COMMANDS = {
    "status": cmd_status,
    "nodes": cmd_nodes,
    "version": cmd_version,
    "expected": cmd_expected,
    "leave": cmd_leave,
    "join": cmd_join,
    "wait": cmd_wait,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 1
    command = COMMANDS.get(args[0])
    if command is None:
        return _fail(f"unknown command '{args[0]}'\n{USAGE}")
    try:
        return command(args[1:])
    except getopt.GetoptError as exc:
        return _fail(f"{args[0]}: {exc.msg}")


if __name__ == "__main__":
    sys.exit(main())
