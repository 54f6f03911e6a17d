"""Run one agent (fence or resource) as a subprocess: bounded in time, its whole process group killed on timeout.

Why a process group: agents are shell scripts that fork (ssh, ipmitool, mount helpers). Killing only the
direct child would leave a grandchild holding the device or the pipe, so every agent starts in its own
session and the timeout kills the group. Output is captured (bounded) for the log; NOTIFY_SOCKET is never
passed on, so no agent can speak to systemd for the daemon.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_OUTPUT = 64 * 1024


@dataclass(frozen=True, slots=True)
class AgentResult:
    argv: tuple[str, ...]
    returncode: int | None  # None when the agent could not be started or was killed on timeout
    stdout: str
    stderr: str
    timed_out: bool
    duration: float
    error: str | None = None  # why it could not be started (missing, not executable)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def agent_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    # quorate's own agents (fence_netns, fence_manual) live next to the interpreter when installed in a venv.
    here = os.path.dirname(sys.executable)
    if here not in env["PATH"].split(os.pathsep):
        env["PATH"] = here + os.pathsep + env["PATH"]
    if extra:
        env.update(extra)
    return env


async def run_agent(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cwd: str | None = None,
) -> AgentResult:
    """Run `argv`, feed `stdin`, wait at most `timeout` seconds; never raises for agent misbehaviour."""
    start = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=agent_environment(env),
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        return AgentResult(tuple(argv), None, "", "", False, 0.0, f"{argv[0]}: not found")
    except PermissionError:
        return AgentResult(tuple(argv), None, "", "", False, 0.0, f"{argv[0]}: not executable")
    except OSError as exc:
        return AgentResult(tuple(argv), None, "", "", False, 0.0, f"{argv[0]}: cannot start: {exc.strerror}")
    timed_out = False
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), timeout)
    except TimeoutError:
        timed_out = True
        _kill_group(proc.pid)
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:  # cancelled: never leave an agent behind, nor an unreaped process
            _kill_group(proc.pid)
            try:
                await asyncio.shield(proc.wait())
            except asyncio.CancelledError:
                pass
    return AgentResult(
        tuple(argv),
        None if timed_out else proc.returncode,
        out[:MAX_OUTPUT].decode(errors="replace"),
        err[:MAX_OUTPUT].decode(errors="replace"),
        timed_out,
        time.monotonic() - start,
    )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
