"""Run one agent (fence or resource) as a subprocess: bounded in time, its whole process group killed on timeout.

Why a process group: agents are shell scripts that fork (ssh, ipmitool, mount helpers). Killing only the
direct child would leave a grandchild holding the device or the pipe, so every agent starts in its own
session and the timeout kills the group. A descendant that calls setsid escapes the group and may keep the
output pipes open for ever, so the call ends when the agent itself ends (or is killed), not when its pipes
close: after a short grace our ends are closed. Output is captured for the log, but only its first
`MAX_OUTPUT` bytes per stream are kept; the rest is still read (an agent must never block on a full pipe) and
only counted. NOTIFY_SOCKET is never passed on, so no agent can speak to systemd for the daemon.

Agents are launched by one thread of their own per event loop (`_launcher`), never by the loop's thread. Why: a
launch waits until the child has called exec (vfork suspends the parent until then); the child runs at normal priority
while the daemon runs at real-time priority (`quorate.system.priority`): on a machine whose CPUs are busy the
child waits for a CPU, and a loop waiting for it sends no heartbeat. Launched from the loop, a thousand agents
(a node starting or stopping a thousand services) kept a node silent for seconds: it was evicted, came back as a
new run, stopped everything (R-30), and did it again. From one launcher thread the launches go one after the
other, the loop goes on, and the agents run side by side once launched. The loop learns that an agent ended
through a pidfd, so no thread waits for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from quorate.system.priority import follow_in_this_thread

MAX_OUTPUT = 64 * 1024  # bytes kept of each of stdout and stderr; the rest is read and dropped
EOF_GRACE = 0.5  # seconds to wait for output pipes to close once the agent has ended


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
    """Run `argv`, feed `stdin`, wait at most `timeout` seconds (from its launch, not from its turn to be
    launched); never raises for agent misbehaviour."""
    start = time.monotonic()
    loop = asyncio.get_running_loop()
    # Our own pipes rather than asyncio's: the agent's end of the wait must not depend on who else holds them.
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    in_read, in_write = os.pipe() if stdin is not None else (subprocess.DEVNULL, -1)
    child_ends = [out_write, err_write, in_read]
    environment = agent_environment(env)
    launch = loop.run_in_executor(
        _launcher(loop),
        lambda: subprocess.Popen(
            list(argv),
            stdin=in_read,
            stdout=out_write,
            stderr=err_write,
            env=environment,
            cwd=cwd,
            start_new_session=True,
        ),
    )
    try:
        proc = await asyncio.shield(launch)
    except asyncio.CancelledError:
        # The launcher goes on with it: whatever it starts is killed and reaped, and the pipes closed after.
        launch.add_done_callback(lambda done: _abandon(done, [*child_ends, out_read, err_read, in_write]))
        raise
    except OSError as exc:
        _close([*child_ends, out_read, err_read, in_write])
        return AgentResult(tuple(argv), None, "", "", False, 0.0, _start_error(argv[0], exc))
    _close(child_ends)
    exited = _exit_of(loop, proc)
    captures: list[tuple[_Capture, asyncio.BaseTransport]] = []
    unwrapped = [out_read, err_read]
    feeder: asyncio.WriteTransport | None = None
    timed_out = False
    try:
        while unwrapped:
            captures.append(await _capture(loop, unwrapped[0]))
            unwrapped.pop(0)
        if stdin is not None:
            feeder, in_write = await _feed(loop, in_write, stdin), -1
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            await exited
        # Output still open after the agent ended belongs to a descendant that left its session: give it a
        # moment to finish writing, then stop listening rather than wait for it.
        await asyncio.wait([capture.closed for capture, _ in captures], timeout=EOF_GRACE)
    finally:
        if feeder is not None and feeder.get_write_buffer_size() > 0:  # input the agent never read
            feeder.abort()
        for _, transport in captures:
            transport.close()
        _close([*unwrapped, in_write])  # only if cancelled before the loop took them over
        if not exited.done():  # cancelled: never leave an agent behind, nor an unreaped process
            _kill_group(proc.pid)
            try:
                await asyncio.shield(exited)
            except asyncio.CancelledError:
                pass
    (stdout, _), (stderr, _) = captures
    return AgentResult(
        tuple(argv),
        None if timed_out else proc.returncode,
        stdout.text(),
        stderr.text(),
        timed_out,
        time.monotonic() - start,
    )


_LAUNCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ThreadPoolExecutor] = weakref.WeakKeyDictionary()


def _launcher(loop: asyncio.AbstractEventLoop) -> ThreadPoolExecutor:
    """The loop's launcher thread (see the module's docstring), started from the loop's thread so that it
    shares that thread's namespaces (a test may run a loop inside a network namespace). It takes the daemon's
    priority, so that it is never held off the CPU while it holds the interpreter's lock (it releases that lock
    while it waits for a child's exec, since Python 3.11.6); the agents it starts do not."""
    launcher = _LAUNCHERS.get(loop)
    if launcher is None:
        launcher = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="quorate-launcher", initializer=follow_in_this_thread
        )
        _LAUNCHERS[loop] = launcher
        weakref.finalize(loop, launcher.shutdown, wait=False)
    return launcher


def _exit_of(loop: asyncio.AbstractEventLoop, proc: subprocess.Popen[bytes]) -> asyncio.Future[None]:
    """Done once the agent has exited and been reaped: the loop watches a pidfd (a thread waits only on a
    kernel without pidfds)."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (OSError, AttributeError):  # a kernel without pidfds (before 5.3)
        return _waited(loop, proc)
    exited: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        proc.wait()  # at once: it has exited
        _settle(exited)

    loop.add_reader(pidfd, ready)
    return exited


def _waited(loop: asyncio.AbstractEventLoop, proc: subprocess.Popen[bytes]) -> asyncio.Future[None]:
    exited: asyncio.Future[None] = loop.create_future()
    _reap_in_thread(proc, lambda: loop.call_soon_threadsafe(_settle, exited))
    return exited


def _reap_in_thread(proc: subprocess.Popen[bytes], then: Callable[[], object] | None = None) -> None:
    """Wait for ``proc`` in a thread of its own (no pidfd, or no loop left to watch one), then call ``then``."""

    def reap() -> None:
        proc.wait()
        if then is not None:
            then()

    threading.Thread(target=reap, name="quorate-reaper", daemon=True).start()


def _settle(exited: asyncio.Future[None]) -> None:
    if not exited.done():
        exited.set_result(None)


def _abandon(launch: asyncio.Future[subprocess.Popen[bytes]], fds: list[int]) -> None:
    """A launch whose caller was cancelled meanwhile: kill what it started, reap it, close the pipes."""
    _close(fds)
    if launch.cancelled() or launch.exception() is not None:
        return
    proc = launch.result()
    _kill_group(proc.pid)
    _reap_in_thread(proc)


def _close(fds: list[int]) -> None:
    for fd in fds:
        if fd >= 0:
            os.close(fd)


def _start_error(program: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{program}: not found"
    if isinstance(exc, PermissionError):
        return f"{program}: not executable"
    return f"{program}: cannot start: {exc.strerror}"


class _Capture(asyncio.Protocol):
    """Keeps the first `MAX_OUTPUT` bytes of one pipe and counts (but drops) the rest, so an agent that
    writes without end neither fills the daemon's memory nor blocks on a full pipe."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.kept = bytearray()
        self.dropped = 0
        self.closed: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        room = MAX_OUTPUT - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self.dropped += max(0, len(data) - max(room, 0))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def text(self) -> str:
        text = self.kept.decode(errors="replace")
        if self.dropped:
            text += f"\n[output cut: {self.dropped} more bytes were discarded]\n"
        return text


async def _capture(loop: asyncio.AbstractEventLoop, fd: int) -> tuple[_Capture, asyncio.BaseTransport]:
    capture = _Capture(loop)
    transport, _ = await loop.connect_read_pipe(lambda: capture, os.fdopen(fd, "rb", buffering=0))
    return capture, transport


async def _feed(loop: asyncio.AbstractEventLoop, fd: int, text: str) -> asyncio.WriteTransport:
    """Hand the agent's input to the loop to write in the background and close after it: an agent that never
    reads its input must not stall the timeout, and one that exits early only breaks the pipe."""
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(fd, "wb", buffering=0))
    transport.write(text.encode())
    transport.close()
    return transport


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
