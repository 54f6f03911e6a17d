"""Cluster lock sessions on the control socket, and the lvm refresh this node runs for the others.

A lock belongs to the control-socket connection that asked for it, as a DLM lock belongs to the process that
holds it: when the connection closes (the client exited, was killed, or its node's daemon restarts), every
lock of the session is released or, if still waiting, cancelled. A session is opened with the request
``{"cmd": "lock_session"}`` and then carries one JSON object per line each way:

* client to daemon: ``{"op": "lock", "id": N, "lockspace": LS, "name": NAME, "mode": "EX", "timeout": S}``
  (timeout null waits for ever, 0 is a try-lock), ``{"op": "convert", "id": N, "lkid": K, "mode": M,
  "timeout": S, "lvb": HEX}``, ``{"op": "unlock", "id": N, "lkid": K, "lvb": HEX}``;
* daemon to client: the answer to request N once it is known (``{"id": N, "ok": true, "event": "granted",
  "lkid": K, "mode": M, "lvb": HEX}``, ``{"id": N, "ok": false, "code": C, "error": TEXT}``, ``{"id": N,
  "ok": true, "event": "released"}``), and at any time ``{"event": "lost", "lkid": K, "reason": TEXT}``
  when this node left the quorate view: the client must stop using the resource at once.

``{"cmd": "locks"}`` lists this node's locks and the whole table (the node core asks the master for it when
it is elsewhere); ``{"cmd": "lvm_refresh", "vg": VG}`` asks every other member to forget its cached LVM device
hints and read the VG again, and answers with what each one now reads (see `quorate.node.lvm_refresh`).
Every operation is a request to the node core; this module only keeps the sessions and their answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from quorate.core.locks import LockDenied, LockGranted, LockLost, LockReleased
from quorate.core.node_io import (
    LockAcquire,
    LockConvert,
    LockRelease,
    LockTable,
    LvmRefreshAll,
    LvmRefreshResult,
    RefreshLvm,
    Refusal,
    Reply,
    Report,
    Request,
)
from quorate.node import lvm_refresh, protocol

MAX_SESSIONS = 1024
MAX_LOCKS_PER_SESSION = 256
SHUTDOWN_GRACE = 10.0
REFRESH_TIMEOUT = 30.0  # clvmd's default command timeout in the cluster

Submit = Callable[[Request], "asyncio.Future[Reply]"]
Call = Callable[[Request], "Reply | None"]


class Session:
    """One client connection and the locks it owns."""

    def __init__(self, writer: asyncio.StreamWriter, who: str) -> None:
        self.writer = writer
        self.who = who
        self.locks: dict[int, int] = {}  # lkid -> id of the request waiting for an answer (0: none)
        self.open = True

    def send(self, answer: dict[str, Any]) -> None:
        if not self.open:
            return
        try:
            self.writer.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
        except (ConnectionError, RuntimeError):
            self.open = False


class LockSessions:
    def __init__(self, node_name: str, submit: Submit, call: Call, report: Callable[[Report], None]) -> None:
        """``submit`` sends a request and gives a future of its reply; ``call`` sends one that the node core
        answers at once (lock operations) and returns the reply before any of the effects it caused is carried
        out, so that a lock is registered to its session before its grant arrives."""
        self.node_name = node_name
        self.submit = submit
        self.call = call
        self.report = report
        self.sessions: set[Session] = set()
        self.owners: dict[int, Session] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def handlers(self) -> dict[str, Any]:
        return {"lock_session": self.session, "locks": self.listing, "lvm_refresh": self.refresh}

    # ------------------------------------------------------------------------------------ effects

    def carry_out(self, effect: LockGranted | LockDenied | LockReleased | LockLost | RefreshLvm) -> None:
        if isinstance(effect, RefreshLvm):
            self._spawn(self._refresh_here(effect))
            return
        session = self.owners.get(effect.lkid)
        if session is None:
            return
        rid = session.locks.get(effect.lkid, 0)
        if isinstance(effect, LockGranted):
            session.locks[effect.lkid] = 0
            if not session.open:  # granted after its owner went away: give it back
                self._release_quietly(effect.lkid)
                return
            session.send(
                {"id": rid, "ok": True, "event": "granted", "lkid": effect.lkid, "mode": effect.mode,
                 "lvb": effect.lvb.hex()}
            )  # fmt: skip
            return
        if isinstance(effect, LockDenied):
            if effect.held is None:
                self._forget(session, effect.lkid)
            else:
                session.locks[effect.lkid] = 0
            session.send(
                {"id": rid, "ok": False, "code": effect.code, "error": _denial(effect), "lkid": effect.lkid,
                 "held": effect.held}
            )  # fmt: skip
            return
        self._forget(session, effect.lkid)
        if isinstance(effect, LockReleased):
            session.send({"id": rid, "ok": True, "event": "released", "lkid": effect.lkid})
        else:
            if rid:
                session.send({"id": rid, "ok": False, "code": "lost", "error": effect.reason, "lkid": effect.lkid})
            session.send({"event": "lost", "lkid": effect.lkid, "reason": effect.reason})

    def _forget(self, session: Session, lkid: int) -> None:
        session.locks.pop(lkid, None)
        self.owners.pop(lkid, None)

    def _release_quietly(self, lkid: int) -> None:
        self.call(LockRelease(lkid))

    # ------------------------------------------------------------------------------------ sessions

    async def session(
        self, request: protocol.LockSession, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if len(self.sessions) >= MAX_SESSIONS:
            writer.write(b'{"ok":false,"error":"too many lock sessions on this node"}\n')
            return
        session = Session(writer, request.client[:80])
        self.sessions.add(session)
        session.send({"ok": True, "node": self.node_name})
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    op = json.loads(line)
                    if not isinstance(op, dict):
                        raise ValueError("an operation is a JSON object")
                except ValueError as exc:
                    session.send({"id": 0, "ok": False, "code": "invalid", "error": f"bad request: {exc}"})
                    continue
                except RecursionError:
                    session.send({"id": 0, "ok": False, "code": "invalid", "error": "bad request: nested too deeply"})
                    continue
                self._operate(session, op)
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            session.open = False
            self.sessions.discard(session)
            for lkid in list(session.locks):
                self._release_quietly(lkid)  # the owner is gone: its locks go with it

    def _operate(self, session: Session, op: dict[str, Any]) -> None:
        rid = op.get("id", 0) if isinstance(op.get("id"), int) else 0
        kind = op.get("op")
        try:
            lvb = bytes.fromhex(op["lvb"]) if isinstance(op.get("lvb"), str) else None
        except ValueError as exc:
            session.send({"id": rid, "ok": False, "code": "invalid", "error": str(exc)})
            return
        timeout = op.get("timeout")
        if timeout is not None and not isinstance(timeout, int | float):
            self._invalid(session, rid, f"timeout must be a number of seconds, not {timeout!r}")
            return
        if kind == "lock":
            if len(session.locks) >= MAX_LOCKS_PER_SESSION:
                error = f"a session may hold at most {MAX_LOCKS_PER_SESSION} locks"
                session.send({"id": rid, "ok": False, "code": "invalid", "error": error})
                return
            ask: Request = LockAcquire(
                str(op.get("lockspace", "default")), str(op.get("name", "")), op.get("mode", "EX"), timeout
            )
        elif kind in ("convert", "unlock"):
            lkid = op.get("lkid")
            if not isinstance(lkid, int) or self.owners.get(lkid) is not session:
                self._invalid(session, rid, f"this session holds no lock {lkid!r}")
                return
            session.locks[lkid] = rid
            ask = LockConvert(lkid, op.get("mode", "EX"), timeout, lvb) if kind == "convert" else LockRelease(lkid, lvb)
        else:
            session.send({"id": rid, "ok": False, "code": "invalid",
                          "error": f"unknown operation {kind!r}: lock, convert or unlock"})  # fmt: skip
            return
        reply = self.call(ask)
        if reply is None or not reply.ok:
            code = "unavailable" if reply is not None and reply.code is Refusal.UNAVAILABLE else "invalid"
            session.send({"id": rid, "ok": False, "code": code, "error": reply.text if reply else "no answer"})
            return
        if kind == "lock":
            self.owners[reply.value] = session
            session.locks[reply.value] = rid

    @staticmethod
    def _invalid(session: Session, rid: int, error: str) -> None:
        session.send({"id": rid, "ok": False, "code": "invalid", "error": error})

    async def wait_closed(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Before a clean leave, clients (told their locks are lost) get a moment to stop their commands."""
        deadline = asyncio.get_running_loop().time() + grace
        while self.sessions and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    # -------------------------------------------------------------------------------------- listing

    async def listing(
        self, request: protocol.Locks, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        reply = await self.submit(LockTable())
        status = dict(reply.value or {})
        owners = {lkid: s.who for s in self.sessions for lkid in s.locks}
        for entry in status.get("local", []):
            entry["owner"] = owners.get(entry["lkid"], "")
        writer.write(json.dumps({"ok": True, "locks": status}).encode() + b"\n")
        await writer.drain()

    # ------------------------------------------------------------------------------------ lvm refresh

    async def _refresh_here(self, effect: RefreshLvm) -> None:
        ok, detail = await lvm_refresh.refresh(effect.vg, timeout=REFRESH_TIMEOUT)
        self.report(LvmRefreshResult(effect.origin, effect.req, ok, detail))

    async def refresh(
        self, request: protocol.LvmRefresh, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        reply = await self.submit(LvmRefreshAll(request.vg[:128], request.timeout))
        writer.write(json.dumps({"ok": True, **(reply.value or {})}).encode() + b"\n")
        await writer.drain()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _denial(effect: LockDenied) -> str:
    if effect.code == "timeout":
        return f"timed out waiting for the lock{' (still held in ' + effect.held + ')' if effect.held else ''}"
    if effect.code == "busy":
        return f"lock not available: {effect.detail}"
    return effect.detail or effect.code
