"""`quorate lock NAME -- COMMAND...` (a cluster-wide flock) and `quorate locks` (what is held, where).

`quorate lock` holds the lock for exactly the command's lifetime, the way flock(1) does: the command
inherits the connection to quorated, so even if `quorate lock` itself is killed the lock stays held until
the command exits too, and the daemon releases it when the last of them is gone. If this node leaves the
quorate view while the command runs, the lock is lost (the others will fence this node and then take it):
the command is stopped at once (SIGTERM to its process group, SIGKILL two seconds later).

Exit status: the command's own (128+N if a signal N ended it); 2 for a usage error (unknown mode, name too
long); 69 when quorated does not run here or this node is not quorate; 75 when the lock was not granted
(timed out, or busy for a try-lock with --timeout 0, or a conversion deadlock); 76 when the lock was lost
while the command ran.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from quorate.core.lock_modes import MODES, LockError, check_name, check_timeout, parse_mode

EXIT_UNAVAILABLE = 69
EXIT_NOT_GRANTED = 75
EXIT_LOST = 76
STOP_GRACE = 2.0


def validate(lockspace: str, name: str, mode: str, timeout: float | None) -> str:
    try:
        check_name("lock space", lockspace)
        check_name("lock", name)
        check_timeout(timeout)
        return MODES[parse_mode(mode)]
    except LockError as exc:
        raise click.UsageError(str(exc)) from None


def exit_for(code: str) -> int:
    return EXIT_UNAVAILABLE if code == "unavailable" else EXIT_LOST if code == "lost" else EXIT_NOT_GRANTED


def run_locked(session: Any, command: Sequence[str], *, what: str, env: dict[str, str] | None = None) -> int:
    """Run `command` while `session` holds its locks; stop it if they are lost. Returns the exit status."""
    try:
        child = subprocess.Popen(list(command), pass_fds=(session.fileno(),), process_group=0, env=env)
    except OSError as exc:
        click.echo(f"quorate: cannot run {command[0]}: {exc.strerror}", err=True)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    forwarded = {}

    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        forwarded[sig] = signal.signal(sig, forward)
    try:
        while child.poll() is None:
            alive = session.poll(0.1)
            if session.lost or not alive:
                reason = next(iter(session.lost.values()), "quorated closed the lock session")
                click.echo(f"quorate: lost the cluster lock on {what}: {reason}; stopping the command", err=True)
                _stop(child)
                return EXIT_LOST
        status = child.returncode
        return 128 - status if status < 0 else status
    finally:
        for sig, previous in forwarded.items():
            signal.signal(sig, previous)


def _stop(child: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--mode", default="EX", show_default=True, help="NL, CR, CW, PR, PW or EX (the DLM's modes).")
@click.option("-t", "--timeout", type=float, default=None, help="Give up after S seconds (0: try once).")
@click.option("-l", "--lockspace", default="default", show_default=True, help="Lock space of the lock.")
@click.option("-v", "--verbose", is_flag=True, help="Say on stderr when the lock is granted and released.")
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lock(mode: str, timeout: float | None, lockspace: str, verbose: bool, name: str, command: tuple[str, ...]) -> None:
    """Run COMMAND while holding the cluster lock NAME (a cluster-wide flock): quorate lock NAME -- COMMAND..."""
    from quorate.locks import ClusterLockError, LockSession

    mode = validate(lockspace, name, mode, timeout)
    what = f"{lockspace}/{name}"
    started = time.monotonic()
    try:
        session = LockSession(client=f"quorate lock {name}")
        held = session.lock(name, mode, lockspace=lockspace, timeout=timeout)
    except ClusterLockError as exc:
        click.echo(f"quorate lock: {what} ({mode}): {exc}", err=True)
        sys.exit(exit_for(exc.code))
    if verbose:
        click.echo(
            f"quorate lock: {what} granted in {held.mode} on {session.node} after {time.monotonic() - started:.3f} s "
            f"at {time.time():.3f}",
            err=True,
        )
    status = run_locked(session, command, what=what)
    if status != EXIT_LOST:
        try:
            session.unlock(held)
        except ClusterLockError as exc:
            click.echo(f"quorate lock: releasing {what}: {exc}", err=True)
        if verbose:
            click.echo(f"quorate lock: {what} released at {time.time():.3f}", err=True)
    session.close()
    sys.exit(status)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def locks(as_json: bool) -> None:
    """Show the cluster locks: this node's, and the whole table (asked of the lock master)."""
    from quorate.cli import client

    try:
        state = client.request("locks")["locks"]
    except client.NotRunning:
        raise click.ClickException(
            f"quorated is not running on this node (no answer on {client.socket_path()})"
        ) from None
    except client.RequestFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(state, indent=2) if as_json else render(state))


def render(state: dict[str, Any]) -> str:
    master = state.get("master") or "none"
    here = " (this node)" if state.get("master_here") else ""
    lines = [f"Lock master: {master}{here}; {state.get('state')}", "", "Held or asked for on this node:"]
    if not state["local"]:
        lines.append("  (none)")
    for entry in state["local"]:
        granted = entry["granted"] or "-"
        asked = f" -> {entry['requested']}" if entry["requested"] else ""
        pending = f" ({entry['pending']} for {entry['for']:.1f} s)" if entry["pending"] else ""
        lines.append(f"  {entry['lockspace']}/{entry['name']}: {granted}{asked}{pending}  {entry.get('owner', '')}")
    if state.get("resources_error"):
        lines += ["", f"Cluster table: not available ({state['resources_error']})"]
    if state.get("resources") is not None:
        source = f" (from the lock master {state['resources_from']})" if state.get("resources_from") else ""
        lines += ["", f"Cluster table{source}:"]
        if not state["resources"]:
            lines.append("  (no lock held anywhere)")
        for res in state["resources"]:

            def who(entries: list[dict[str, Any]], key: str) -> str:
                return ", ".join(
                    f"{e['node']} {e[key]}" + (" (failed, waiting for its fence)" if e["orphan"] else "")
                    for e in entries
                )

            parts = [f"granted: {who(res['granted'], 'granted') or '-'}"]
            if res["converting"]:
                parts.append(f"converting: {who(res['converting'], 'requested')}")
            if res["waiting"]:
                parts.append(f"waiting: {who(res['waiting'], 'requested')}")
            lines.append(f"  {res['lockspace']}/{res['name']}: " + "; ".join(parts))
        if state.get("resources_omitted"):
            lines.append(f"  ... and {state['resources_omitted']} more (run quorate locks on the lock master)")
    return "\n".join(lines)
