"""Finding, entering and killing the processes that make up testbed hosts.

Theory of operation: every node is a *holder* process (PID 1 of the node's PID
namespace, see ``holder.py``).  Running something "on a node" means entering
all of the holder's namespaces with ``nsenter --target PID``; because entering
a PID namespace only applies to children, nsenter forks and the program we
care about is nsenter's child.  So the testbed records *host-visible* PIDs by
reading ``/proc/PID/task/PID/children`` of the launcher it started.

Teardown must work after the creating process crashed, without trusting PIDs
that may have been reused: processes are found by the namespace they are in,
comparing ``/proc/PID/ns/*`` inode numbers with the namespace files.  Every
wait here is bounded.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterable
from pathlib import Path

#: What "on a node" means: the node's mount, UTS, network, PID and IPC namespaces.
NSENTER_FLAGS = ("--mount", "--uts", "--net", "--pid", "--ipc")


def nsenter_argv(holder_pid: int) -> list[str]:
    """Command prefix that runs a program inside every namespace of a node's holder."""
    return ["nsenter", f"--target={holder_pid}", *NSENTER_FLAGS, "--"]


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads), empty if it is gone."""
    kids: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return kids
    for task in tasks:
        try:
            kids += [int(word) for word in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return kids


def wait_for_child(pid: int, timeout: float = 5.0) -> int | None:
    """The first child ``pid`` forks, or None if it exits or the time runs out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children_of(pid)
        if kids:
            return kids[0]
        if not is_alive(pid):
            return None
        time.sleep(0.005)
    return None


def wait_for_exec(pid: int, timeout: float = 5.0) -> int | None:
    """The child ``pid`` forks, once that child has replaced itself with its program.

    nsenter forks, then the child execs the program: between the two, the child's
    /proc entries still show nsenter (or, during the exec itself, an empty command
    line), so a caller that reads them too early sees the wrong program.
    """
    deadline = time.monotonic() + timeout
    kid = wait_for_child(pid, timeout)
    if kid is None:
        return None
    launcher = _exe(pid)
    while time.monotonic() < deadline:
        exe = _exe(kid)
        if exe is None and not is_alive(kid):
            return kid  # it ran and exited already: the PID is still the right answer
        if exe is not None and exe != launcher and _cmdline(kid):
            return kid
        time.sleep(0.005)
    return kid


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/PID/stat, None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain anything; the state follows it.
    return stat[stat.rfind(")") + 2 :][:1] or None


def is_alive(pid: int | None) -> bool:
    """True for a process that exists and is not a zombie."""
    if not pid:
        return False
    return proc_state(pid) not in (None, "Z", "X")


def ns_id(pid: int, kind: str) -> tuple[int, int] | None:
    """(device, inode) of a process's namespace of the given kind, None if gone."""
    try:
        st = os.stat(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def file_ns_id(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of a bind-mounted namespace file such as /run/netns/NAME."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def pids_in_namespaces(kind: str, ids: Iterable[tuple[int, int] | None]) -> list[int]:
    """Every process whose namespace of ``kind`` is one of ``ids``."""
    wanted = {ident for ident in ids if ident is not None}
    if not wanted:
        return []
    me = os.getpid()
    return [pid for pid in all_pids() if pid != me and ns_id(pid, kind) in wanted]


def send(pid: int | None, sig: int) -> bool:
    """Signal a process if it exists; False when it does not."""
    if not pid:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait (bounded) until none of ``pids`` is alive; True if they all went.

    Woken by each process's exit (a pidfd turns readable when its process has exited), not by a sleep: a power
    cut waits here for the node's processes, and a fence waits for the power cut."""
    pending = [pid for pid in pids if pid]
    deadline = time.monotonic() + timeout
    poller = select.poll()
    watched: dict[int, int] = {}  # pidfd -> pid
    try:
        for pid in pending:
            try:
                fd = os.pidfd_open(pid)
            except OSError:  # already gone (or pidfds unavailable: then the 10 ms wake-ups below still work)
                continue
            watched[fd] = pid
            poller.register(fd, select.POLLIN)
        while True:
            pending = [pid for pid in pending if is_alive(pid)]
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for fd, _ in poller.poll(min(left, 0.01) * 1000):
                poller.unregister(fd)
    finally:
        for fd in watched:
            os.close(fd)


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL if ``pid`` is still there after ``timeout`` seconds (and wait as long again)."""
    send(pid, signal.SIGTERM)
    if not wait_gone([pid], timeout):
        send(pid, signal.SIGKILL)
        wait_gone([pid], timeout)


def wait_state(pid: int, states: str, timeout: float) -> bool:
    """Wait (bounded) until a process's state letter is one of ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = proc_state(pid)
        if state is None:
            return False
        if state in states:
            return True
        time.sleep(0.005)
    return False


def kill_namespace_members(kind: str, ids: Iterable[tuple[int, int] | None], rounds: int = 3) -> list[int]:
    """SIGKILL every process in the given namespaces, a few rounds for late forks; returns survivors."""
    idents = list(ids)
    survivors: list[int] = []
    for _ in range(rounds):
        victims = pids_in_namespaces(kind, idents)
        if not victims:
            return []
        for pid in victims:
            send(pid, signal.SIGKILL)
        wait_gone(victims, 5.0)
        survivors = [pid for pid in victims if is_alive(pid)]
    return survivors


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def kill_launched(launcher_pid: int, timeout: float = 5.0) -> None:
    """Kill what an nsenter started in its own session, then nsenter itself.

    The order matters: nsenter must still be there to reap its child.  A process in a
    node's PID namespace whose nsenter parent dies first is handed to the machine's
    init, and until that init reaps it the node's PID 1 cannot finish dying.
    """
    group = _pgid(launcher_pid)
    if group == launcher_pid:
        members = [pid for pid in all_pids() if pid != launcher_pid and _pgid(pid) == group]
        for pid in members:
            send(pid, signal.SIGKILL)
        send(launcher_pid, signal.SIGCONT)
        if wait_gone([launcher_pid], timeout):
            return
    send(launcher_pid, signal.SIGKILL)
