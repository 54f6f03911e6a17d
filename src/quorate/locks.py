"""Cluster locks from Python: a cluster-wide `flock`, with the DLM's modes (NL, CR, CW, PR, PW, EX).

    from quorate.locks import cluster_lock

    with cluster_lock("magi_vg", mode="EX", lockspace="lvm", timeout=10):
        ...  # no other node holds magi_vg in a conflicting mode until the block ends

Theory of operation: a `LockSession` is one connection to the local quorated's control socket; every lock
taken through it belongs to that connection, and the daemon releases it when the connection closes, so a
process that dies cannot leave a lock behind. Requests block until the lock master answers (granted,
timed out, busy for a try-lock with ``timeout=0``). If this node leaves the quorate view while a lock is
held, the daemon says so at once; `LockSession.lost` (or `check()`) tells the holder to stop using the
resource: the rest of the cluster will fence this node and then hand the lock to someone else.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_SOCKET = "/run/quorate/quorated.sock"


class ClusterLockError(Exception):
    """A lock could not be had or kept; `code` is timeout, busy, deadlock, invalid, lost or unavailable."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Lock:
    lkid: int
    lockspace: str
    name: str
    mode: str
    lvb: bytes


def socket_path() -> str:
    return os.environ.get("QUORATE_SOCKET", DEFAULT_SOCKET)


class LockSession:
    def __init__(self, path: str | None = None, client: str = "python") -> None:
        self.path = path or socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            self.sock.close()
            raise ClusterLockError(
                f"quorated is not running on this node (no answer on {self.path})", "unavailable"
            ) from None
        self._buffer = b""
        self._next_id = 1
        self.lost: dict[int, str] = {}  # lkid -> why this node lost it
        self.closed = False
        self._send({"cmd": "lock_session", "client": f"{client} (pid {os.getpid()})"})
        hello = self._read_line()
        if hello is None or not hello.get("ok"):
            error = (hello or {}).get("error", "the daemon closed the connection")
            self.close()
            raise ClusterLockError(f"quorated refused the lock session: {error}", "unavailable")
        self.node = str(hello.get("node", ""))

    # ------------------------------------------------------------------------------------ operations

    def lock(self, name: str, mode: str = "EX", *, lockspace: str = "default", timeout: float | None = None) -> Lock:
        """Wait for `name` in `mode` (for ever if timeout is None; a try-lock if 0)."""
        answer = self._call({"op": "lock", "lockspace": lockspace, "name": name, "mode": mode, "timeout": timeout})
        return Lock(answer["lkid"], lockspace, name, answer["mode"], bytes.fromhex(answer.get("lvb", "")))

    def convert(self, lock: Lock, mode: str, *, timeout: float | None = None, lvb: bytes | None = None) -> None:
        """Change the mode; on a failed conversion the lock stays granted in its old mode (and the error says so)."""
        op = {"op": "convert", "lkid": lock.lkid, "mode": mode, "timeout": timeout}
        if lvb is not None:
            op["lvb"] = lvb.hex()
        answer = self._call(op)
        lock.mode, lock.lvb = answer["mode"], bytes.fromhex(answer.get("lvb", ""))

    def unlock(self, lock: Lock, *, lvb: bytes | None = None) -> None:
        """Release the lock (`lvb` is written if it was held in PW or EX) and wait until the master knows."""
        if lock.lkid in self.lost:
            return
        op: dict[str, Any] = {"op": "unlock", "lkid": lock.lkid}
        if lvb is not None:
            op["lvb"] = lvb.hex()
        self._call(op)

    def check(self) -> None:
        """Raise if this node lost any lock of the session (read whatever the daemon said meanwhile)."""
        self.poll(0)
        if self.lost:
            reason = next(iter(self.lost.values()))
            raise ClusterLockError(f"cluster lock lost: {reason}", "lost")

    def poll(self, timeout: float) -> bool:
        """Wait up to `timeout` for news from the daemon; False if the connection is gone."""
        while True:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return True
            line = self._read_line()
            if line is None:
                return False
            self._note(line)
            timeout = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        """Closing the session releases every lock it holds (the daemon does it)."""
        if not self.closed:
            self.closed = True
            self.sock.close()

    def __enter__(self) -> LockSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------------- internals

    def _call(self, op: dict[str, Any]) -> dict[str, Any]:
        rid = self._next_id
        self._next_id += 1
        self._send({**op, "id": rid})
        while True:
            line = self._read_line()
            if line is None:
                raise ClusterLockError("quorated closed the lock session (the daemon stopped?)", "lost")
            if line.get("id") == rid:
                if not line.get("ok"):
                    raise ClusterLockError(str(line.get("error", "refused")), str(line.get("code", "invalid")))
                return line
            self._note(line)

    def _note(self, line: dict[str, Any]) -> None:
        if line.get("event") == "lost":
            self.lost[int(line.get("lkid", 0))] = str(line.get("reason", "this node left the quorate view"))

    def _send(self, obj: dict[str, Any]) -> None:
        try:
            self.sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError as exc:
            raise ClusterLockError(f"lost the connection to quorated: {exc}", "lost") from None

    def _read_line(self) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        parsed: dict[str, Any] = json.loads(line)
        return parsed


@contextlib.contextmanager
def cluster_lock(
    name: str,
    mode: str = "EX",
    *,
    lockspace: str = "default",
    timeout: float | None = None,
    path: str | None = None,
) -> Iterator[Lock]:
    """Hold `name` in `mode` for the duration of the block; released (and confirmed) when it ends."""
    session = LockSession(path, client="cluster_lock")
    try:
        lock = session.lock(name, mode, lockspace=lockspace, timeout=timeout)
        yield lock
        session.unlock(lock)
    finally:
        session.close()
