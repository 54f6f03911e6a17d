"""fence_manual: the RHCS 5 "meatware" agent, for configurations that name it and for running by hand.

Theory of operation (spec F-30, F-31): manual fencing means a human resets the victim and says so. quorate's
daemon never runs this program: it recognises ``agent="fence_manual"`` and waits for ``fence_ack_manual``
itself (``quorate.node.fence_exec``). This executable exists so that the article's configuration stays
meaningful outside the daemon (``fence_node`` on an old setup, a script, an administrator testing it):

* it reads ``nodename`` (or the legacy ``ipaddr``) from stdin, or ``-n NODE`` on the command line;
* it takes a per-node lock, so two runs for the same victim do not both wait (RHCS 5 used one lock file);
* it logs the F-30 message at CRIT (to stderr and syslog);
* it then checks once a second for the acknowledgement file ``/run/quorate/fence_manual/<node>.ack``
  (full or short name), which the daemon or ``fence_ack_manual`` creates, and exits 0 with
  ``success: fence_manual <node>`` once it appears, consuming it. There is no timeout, as in RHCS: recovery
  stays blocked until a human acts. An acknowledgement file left from before this run started is stale
  (it acknowledged an earlier reset) and is removed rather than believed.

``metadata`` prints the agent description; ``on`` (unfencing) has nothing to undo and succeeds;
``monitor`` succeeds; other actions fail with exit status 1.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import syslog
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from quorate.agents.fence_netns import Param, metadata_xml, parse_stdin

ACK_DIR = Path("/run/quorate/fence_manual")
#: Overrides ACK_DIR (tests, and hosts where /run is not writable).
ACK_DIR_ENV = "QUORATE_FENCE_MANUAL_DIR"
POLL_SECONDS = 1.0
ACTIONS = ("off", "reboot", "on", "monitor", "metadata")
PARAMS = (
    Param("action", "-o, --action=[action]", "Fencing action", default="off"),
    Param("nodename", "-n, --nodename=[name]", "Node that must be reset by hand", required=True),
    Param("ipaddr", "-a, --ip=[name]", "Legacy name of nodename"),
)
KNOWN = {
    "action": "action", "option": "action", "nodename": "nodename", "ipaddr": "ipaddr", "agent": "agent",
    "port": "port", "plug": "port",
}  # fmt: skip


def ack_paths(directory: Path, node: str) -> list[Path]:
    """The acknowledgement files that count for ``node``: its name as given and its short name."""
    names = dict.fromkeys([node, node.split(".", 1)[0]])
    return [directory / f"{name}.ack" for name in names]


def ack_directory() -> Path:
    return Path(os.environ.get(ACK_DIR_ENV) or ACK_DIR)


def write_ack(node: str, directory: Path | None = None) -> Path:
    """Acknowledge that ``node`` was reset, for a waiting fence_manual (what the daemon does on
    ``fence_ack_manual``). Returns the file written."""
    if "/" in node or node.startswith(".") or not node:
        raise ValueError(f"{node!r} is not a node name")
    target = directory or ack_directory()
    target.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = target / f"{node}.ack"
    path.write_text(f"acknowledged {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return path


def _message(node: str) -> str:
    return (
        f"Node {node} needs to be reset before recovery can procede. Waiting for {node} to rejoin the cluster "
        f"or for manual acknowledgement that it has been reset (i.e. fence_ack_manual -n {node})"
    )


def wait_for_ack(
    node: str, directory: Path, *, sleep: Callable[[float], None] = time.sleep, err: Callable[[str], None]
) -> Path:
    """Remove stale acknowledgements, then poll once a second, forever, until a fresh one appears."""
    for path in ack_paths(directory, node):
        if path.exists():
            err(f"fence_manual: removing stale acknowledgement {path}")
            path.unlink(missing_ok=True)
    while True:
        for path in ack_paths(directory, node):
            if path.exists():
                path.unlink(missing_ok=True)
                return path
        sleep(POLL_SECONDS)


def run(options: dict[str, str], out: Callable[[str], None], err: Callable[[str], None]) -> int:
    action = options.get("action", "off").lower()
    if action in ("metadata", "meta-data"):
        out(metadata_xml("fence_manual", "Manual fencing: wait for fence_ack_manual", __doc__ or "",
                         PARAMS, ACTIONS).rstrip("\n"))  # fmt: skip
        return 0
    if action == "monitor":
        return 0
    if action == "on":
        out("success: nothing to undo after a manual reset")
        return 0
    if action not in ("off", "reboot"):
        err(f"failed: action {action} is not supported by fence_manual")
        return 1
    node = options.get("nodename") or options.get("ipaddr") or options.get("port")
    if not node:
        err("failed: no node name (nodename=...)")
        return 1
    if "/" in node or node.startswith("."):
        err(f"failed: {node!r} is not a node name")
        return 1
    directory = ack_directory()
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        lock = open(directory / f".{node}.lock", "a")  # noqa: SIM115 - held for the whole wait
    except OSError as exc:
        err(f"failed: cannot use {directory}: {exc.strerror}")
        return 1
    with lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        message = _message(node)
        err(message)
        try:
            syslog.openlog("fence_manual", syslog.LOG_PID, syslog.LOG_DAEMON)
            syslog.syslog(syslog.LOG_CRIT, message)
        except OSError:
            pass
        wait_for_ack(node, directory, err=err)
    out(f"success: fence_manual {node}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args:
        parser = argparse.ArgumentParser(prog="fence_manual", description="Wait for fence_ack_manual")
        parser.add_argument("-o", "--action", dest="action")
        parser.add_argument("-n", "--nodename", dest="nodename")
        parser.add_argument("-a", "--ip", dest="ipaddr")
        options = {k: v for k, v in vars(parser.parse_args(args)).items() if isinstance(v, str)}
    else:
        options = parse_stdin(sys.stdin.read(), KNOWN, _stderr)
    return run(options, lambda line: print(line, flush=True), _stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
