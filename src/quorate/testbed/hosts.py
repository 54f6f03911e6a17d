"""Bringing testbed hosts to life and making them disappear without a trace.

Theory of operation: a host's "disk" is a directory on the machine,
``/run/quorate-testbed/<prefix>/<node>/``, laid out like the paths the node
sees (``etc/cluster``, ``var/lib/quorate``, ``var/log/quorate``,
``etc/hosts``); it survives power cycles as a disk would.  A host's "power" is
its holder process (see ``holder.py``), launched through ``ip netns exec`` and
``unshare`` in a new session so a terminal's Ctrl-C does not reach it.  The
holder says ``ready`` once its mounts and hostname are in place; we wait for
that, bounded, and record the holder's host-visible PID (the child of
``unshare``).

Teardown does not rely on anything being consistent (state.json may be gone):
it finds processes by the network namespaces named ``<prefix>-*``, SIGKILLs
those inside the hosts' PID namespaces first (so their nsenter parents can
still reap them), then everything else in those namespaces, then deletes the
namespaces and the run directory.  Mounts need no unmounting on the host side: they live
only in the holders' private mount namespaces, which the kernel frees with
their last process.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from quorate.testbed import holder as holder_module
from quorate.testbed import netns, procs
from quorate.testbed.conf import TestbedError, switch_netns
from quorate.testbed.state import BedState, NodeState, load_or_none, run_dir

#: Paths the holder bind-mounts over; they must exist on the machine as mount points.
MOUNT_POINTS = ("/etc/cluster", "/var/lib/quorate", "/var/log/quorate")
HOLDER_READY_TIMEOUT = 20.0
HOLDER_LOG = "holder.log"


def prepare_node_dir(node_dir: Path, conf_text: bytes, key: bytes, hosts_text: str) -> None:
    """Lay out a node's disk: configuration, key (0600), hosts file, empty state and log dirs."""
    for sub in ("etc/cluster", "var/lib/quorate", "var/log/quorate"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    (node_dir / "etc/cluster/cluster.conf").write_bytes(conf_text)
    key_file = node_dir / "etc/cluster/quorate.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    os.chmod(key_file, 0o600)
    (node_dir / "etc/hosts").write_text(hosts_text)
    for point in MOUNT_POINTS:
        Path(point).mkdir(parents=True, exist_ok=True)


def holder_argv(state: BedState, node: NodeState) -> list[str]:
    return [
        "ip", "netns", "exec", node.netns,
        "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--mount-proc", "--propagation", "private",
        sys.executable, "-I", str(Path(holder_module.__file__).resolve()),
        "--dir", node.dir, "--hostname", node.name, "--tag", f"{state.prefix}/{node.name}",
    ]  # fmt: skip


def launch_holder(state: BedState, node: NodeState) -> subprocess.Popen[bytes]:
    """Start a node's holder; ``await_ready`` finishes the job."""
    with open(Path(node.dir).parent / f"{node.short}.{HOLDER_LOG}", "ab") as log:
        return subprocess.Popen(
            holder_argv(state, node),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )


def await_ready(launched: dict[str, subprocess.Popen[bytes]], timeout: float = HOLDER_READY_TIMEOUT) -> dict[str, int]:
    """Wait until every holder said ``ready``; returns host-visible holder PIDs by node name."""
    pending = dict(launched)
    ready: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for name, proc in pending.items():
            assert proc.stdout is not None
            selector.register(proc.stdout, selectors.EVENT_READ, name)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestbedError(f"hosts {', '.join(sorted(pending))} did not come up within {timeout} s")
            for key, _ in selector.select(left):
                name = key.data
                proc = pending.pop(name)
                line = proc.stdout.readline() if proc.stdout else b""
                selector.unregister(key.fileobj)
                if proc.stdout:
                    proc.stdout.close()
                holder_pid = procs.children_of(proc.pid)
                if line.strip() != b"ready" or not holder_pid:
                    raise TestbedError(f"host {name} failed to start (see its {HOLDER_LOG} in the run directory)")
                ready[name] = holder_pid[0]
    return ready


def kill_holder(node: NodeState) -> None:
    """Cut a node's power: SIGKILL everything in its PID namespace, then any stragglers.

    Every process inside gets its SIGKILL before anything outside is continued: a
    paused daemon must not run another instruction, but its nsenter parent (outside
    the PID namespace, stopped along with it) has to run to reap it, or the node's
    PID 1 cannot finish dying.
    """
    if not node.holder_pid or not _belongs(node.holder_pid, node):
        return
    mount_ns = procs.ns_id(node.holder_pid, "mnt")
    inside = procs.pids_in_namespaces("pid", [procs.ns_id(node.holder_pid, "pid")])
    for pid in [node.holder_pid, *inside]:
        procs.send(pid, signal.SIGKILL)
    for pid in procs.pids_in_namespaces("mnt", [mount_ns]):
        procs.send(pid, signal.SIGCONT)
    procs.wait_gone([node.holder_pid, *inside], 5.0)
    # nsenter and unshare parents sit in the node's mount namespace but outside its PID namespace.
    procs.kill_namespace_members("mnt", [mount_ns])


def _belongs(pid: int, node: NodeState) -> bool:
    """Is ``pid`` still in the node's network namespace (and not a reused PID)?"""
    ident = procs.file_ns_id(Path(netns.NETNS_DIR) / node.netns)
    return ident is not None and procs.ns_id(pid, "net") == ident


def teardown(prefix: str, state: BedState | None = None) -> list[str]:
    """Remove every trace of testbed ``prefix``; returns the problems it could not fix."""
    if state is None:
        state = load_or_none(prefix)
    problems: list[str] = []
    names = set(netns.netns_of_prefix(prefix))
    names.add(switch_netns(prefix))
    if state is not None:
        names.update(node.netns for node in state.nodes)
        names.update(client.netns for client in state.clients)
    names &= set(netns.list_netns())
    idents = [procs.file_ns_id(Path(netns.NETNS_DIR) / name) for name in sorted(names)]
    # Processes inside the hosts' PID namespaces die first, while the nsenter parents that wait
    # for them are still there to reap them; killed together, the orphaned zombies would wait
    # for the machine's init to reap them, and each host's PID 1 would hang in its exit until then.
    ours = procs.ns_id(os.getpid(), "pid")
    inside = [pid for pid in procs.pids_in_namespaces("net", idents) if procs.ns_id(pid, "pid") != ours]
    for pid in inside:
        procs.send(pid, signal.SIGKILL)
    for pid in procs.pids_in_namespaces("net", idents):
        procs.send(pid, signal.SIGCONT)  # stopped nsenter parents must run to reap
    procs.wait_gone(inside, 5.0)
    survivors = procs.kill_namespace_members("net", idents)
    if survivors:
        problems.append(f"processes would not die: {survivors}")
    for name in sorted(names):
        netns.delete_netns(name)
    left = set(netns.netns_of_prefix(prefix))
    if left:
        problems.append(f"namespaces still present: {sorted(left)}")
    directory = run_dir(prefix)
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
    if directory.exists():
        problems.append(f"could not remove {directory}")
    return problems
