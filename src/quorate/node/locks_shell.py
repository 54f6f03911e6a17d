"""The cluster lock service's shell: lock sessions on the control socket, and the lvm refresh on every node.

A lock belongs to the control-socket connection that asked for it, as a DLM lock belongs to the process
that holds it: when the connection closes (the client exited, was killed, or its node's daemon restarts),
every lock of the session is released or, if still waiting, cancelled. A session is opened with the
request ``{"cmd": "lock_session"}`` and then carries one JSON object per line each way:

* client to daemon: ``{"op": "lock", "id": N, "lockspace": LS, "name": NAME, "mode": "EX", "timeout": S}``
  (timeout null waits for ever, 0 is a try-lock), ``{"op": "convert", "id": N, "lkid": K, "mode": M,
  "timeout": S, "lvb": HEX}``, ``{"op": "unlock", "id": N, "lkid": K, "lvb": HEX}``;
* daemon to client: the answer to request N once it is known (``{"id": N, "ok": true, "event": "granted",
  "lkid": K, "mode": M, "lvb": HEX}``, ``{"id": N, "ok": false, "code": C, "error": TEXT}``, ``{"id": N,
  "ok": true, "event": "released"}``), and at any time ``{"event": "lost", "lkid": K, "reason": TEXT}``
  when this node left the quorate view: the client must stop using the resource at once.

``{"cmd": "locks"}`` lists this node's locks and the whole table: the master's own, or, on another member, the
one it asks the master for (one datagram: what does not fit is counted, not sent); ``{"cmd":
"lvm_refresh", "vg": VG}`` asks every other member to forget its cached LVM device hints and read the VG
again, and answers with what each one now reads (see `quorate.node.lvm_refresh`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from quorate.core.effects import Log, Send
from quorate.core.lock_messages import LockTableAsk, LockTableIs, LvmRefresh, LvmRefreshed
from quorate.core.lock_modes import LockError, NoQuorum
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockManager, LockReleased
from quorate.core.messages import Message
from quorate.node import lvm_refresh

if TYPE_CHECKING:
    from quorate.node.daemon import Daemon

MAX_SESSIONS = 1024
MAX_LOCKS_PER_SESSION = 256
SHUTDOWN_GRACE = 10.0
REFRESH_TIMEOUT = 30.0  # clvmd's default command timeout in the cluster
TABLE_TIMEOUT = 1.0  # how long `quorate locks` on a member waits for the master's table
TABLE_BUDGET = 6000  # bytes of table JSON in one answer: the datagram limit minus headers, with room to spare


def fit_table(rows: list[dict[str, Any]], budget: int = TABLE_BUDGET) -> tuple[str, int]:
    """The table as compact JSON of at most ``budget`` bytes: the first resources (by name) that fit, and how
    many were left out. A datagram has a fixed size, and a partial table that says so beats no answer."""
    kept = len(rows)
    while True:
        text = json.dumps(rows[:kept], separators=(",", ":"))
        if len(text.encode()) <= budget or kept == 0:
            return text, len(rows) - kept
        kept = kept * budget // (len(text.encode()) + 1) if kept > 1 else 0


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


class LocksShell:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        fencing = daemon.fencing.core
        names = {n.nodeid: n.name for n in daemon.config.nodes}
        self.core = LockManager(
            daemon.local.nodeid, names, safely_gone=fencing.is_safely_gone, unfenced=lambda: frozenset(fencing.victims)
        )
        self.sessions: set[Session] = set()
        self.owners: dict[int, Session] = {}
        self.refreshes: dict[int, tuple[asyncio.Future[None], set[int], dict[int, tuple[bool, str]]]] = {}
        self._next_refresh = 1
        self.table_asks: dict[int, asyncio.Future[LockTableIs]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        daemon.fencing.on_confirmed.append(lambda _confirmed: self.core.tick(self.now()))

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def handlers(self) -> dict[str, Any]:
        return {"lock_session": self.session, "locks": self.listing, "lvm_refresh": self.refresh}

    # ------------------------------------------------------------------------------------ effects

    def carry_out(self) -> None:
        for effect in self.core.take_effects():
            if isinstance(effect, Send):
                self.daemon.send(effect)
            elif isinstance(effect, Log):
                self.daemon.log_line(effect.text, effect.level)
            else:
                self._to_client(effect)

    def _to_client(self, effect: LockGranted | LockDenied | LockReleased | LockLost) -> None:
        session = self.owners.get(effect.lkid)
        if session is None:
            return
        rid = session.locks.get(effect.lkid, 0)
        if isinstance(effect, LockGranted):
            session.locks[effect.lkid] = 0
            if not session.open:  # granted after its owner went away: give it back
                self._unlock_quietly(effect.lkid)
                return
            session.send(
                {
                    "id": rid,
                    "ok": True,
                    "event": "granted",
                    "lkid": effect.lkid,
                    "mode": effect.mode,
                    "lvb": effect.lvb.hex(),
                }
            )
            return
        if isinstance(effect, LockDenied):
            if effect.held is None:
                self._forget(session, effect.lkid)
            else:
                session.locks[effect.lkid] = 0
            session.send(
                {
                    "id": rid,
                    "ok": False,
                    "code": effect.code,
                    "error": _denial(effect),
                    "lkid": effect.lkid,
                    "held": effect.held,
                }
            )
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

    def _unlock_quietly(self, lkid: int) -> None:
        try:
            self.core.unlock(self.now(), lkid)
        except LockError:
            pass

    # ------------------------------------------------------------------------------------ sessions

    async def session(
        self, request: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if len(self.sessions) >= MAX_SESSIONS:
            writer.write(b'{"ok":false,"error":"too many lock sessions on this node"}\n')
            return
        session = Session(writer, str(request.get("client", "client"))[:80])
        self.sessions.add(session)
        session.send({"ok": True, "node": self.daemon.local.name})
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
                self._operate(session, op)
                self.daemon.flush()
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            session.open = False
            self.sessions.discard(session)
            for lkid in list(session.locks):
                self._unlock_quietly(lkid)  # the owner is gone: its locks go with it
            self.daemon.flush()

    def _operate(self, session: Session, op: dict[str, Any]) -> None:
        rid = op.get("id", 0) if isinstance(op.get("id"), int) else 0
        now = self.now()
        try:
            kind = op.get("op")
            lvb = bytes.fromhex(op["lvb"]) if isinstance(op.get("lvb"), str) else None
            timeout = op.get("timeout")
            if timeout is not None and not isinstance(timeout, (int, float)):
                raise LockError(f"timeout must be a number of seconds, not {timeout!r}")
            if kind == "lock":
                if len(session.locks) >= MAX_LOCKS_PER_SESSION:
                    raise LockError(f"a session may hold at most {MAX_LOCKS_PER_SESSION} locks")
                lkid = self.core.lock(
                    now,
                    str(op.get("lockspace", "default")),
                    str(op.get("name", "")),
                    op.get("mode", "EX"),
                    timeout=timeout,
                )
                self.owners[lkid] = session
                session.locks[lkid] = rid
            elif kind in ("convert", "unlock"):
                asked = op.get("lkid")
                if not isinstance(asked, int) or self.owners.get(asked) is not session:
                    raise LockError(f"this session holds no lock {asked!r}")
                lkid = asked
                session.locks[lkid] = rid
                if kind == "convert":
                    self.core.convert(now, lkid, op.get("mode", "EX"), timeout=timeout, lvb=lvb)
                else:
                    self.core.unlock(now, lkid, lvb=lvb)
            else:
                raise LockError(f"unknown operation {kind!r}: lock, convert or unlock")
        except (LockError, ValueError, TypeError) as exc:
            code = "unavailable" if isinstance(exc, NoQuorum) else "invalid"
            session.send({"id": rid, "ok": False, "code": code, "error": str(exc)})

    async def shutdown(self, reason: str) -> None:
        """Before a clean leave: clients lose their locks first, and get a moment to stop their commands."""
        self.core.drop_all(self.now(), reason)
        self.daemon.flush()
        deadline = self.now() + SHUTDOWN_GRACE
        while self.sessions and self.now() < deadline:
            await asyncio.sleep(0.05)

    # -------------------------------------------------------------------------------------- listing

    async def listing(
        self, request: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        status = self.core.status(self.now())
        if status["resources"] is None and self.core.view is not None and not self.core.acting:
            await self._add_master_table(status)
        owners = {lkid: s.who for s in self.sessions for lkid in s.locks}
        local = status["local"]
        assert isinstance(local, list)
        for entry in local:
            entry["owner"] = owners.get(entry["lkid"], "")
        writer.write(json.dumps({"ok": True, "locks": status}).encode() + b"\n")
        await writer.drain()

    async def _add_master_table(self, status: dict[str, object]) -> None:
        """Fill ``resources`` with the master's table, marked as coming from it, or say why it is missing."""
        master = self.core.master
        req = self._next_refresh
        self._next_refresh += 1
        future: asyncio.Future[LockTableIs] = asyncio.get_running_loop().create_future()
        self.table_asks[req] = future
        try:
            self.daemon.send(Send((master,), LockTableAsk(req)))
            answer = await asyncio.wait_for(future, TABLE_TIMEOUT)
        except TimeoutError:
            status["resources_error"] = f"the lock master did not answer within {TABLE_TIMEOUT:g} s"
            return
        finally:
            del self.table_asks[req]
        try:
            status["resources"] = json.loads(answer.table)
        except ValueError:
            status["resources_error"] = "the lock master's answer could not be read"
            return
        status["resources_from"] = status["master"]
        status["resources_omitted"] = answer.omitted

    def _answer_table(self, sender: int, req: int) -> None:
        """Only the acting master answers, and only with a complete table (not while it recovers)."""
        if sender not in self.daemon.membership.members:
            return
        resources = self.core.status(self.now())["resources"]
        if isinstance(resources, list):
            text, omitted = fit_table(resources)
            self.daemon.send(Send((sender,), LockTableIs(req, text, omitted)))

    # ------------------------------------------------------------------------------------ lvm refresh

    def receive(self, now: float, sender: int, message: Message) -> None:
        if isinstance(message, LvmRefresh):
            self._spawn(self._refresh_here(sender, message))
        elif isinstance(message, LockTableAsk):
            self._answer_table(sender, message.req)
        elif isinstance(message, LockTableIs):
            waiting = self.table_asks.get(message.req)
            if waiting is not None and not waiting.done() and sender == self.core.master:
                waiting.set_result(message)
        elif isinstance(message, LvmRefreshed):
            pending = self.refreshes.get(message.req)
            if pending is not None and sender in pending[1]:
                pending[2][sender] = (message.ok, message.detail)
                if set(pending[2]) >= pending[1] and not pending[0].done():
                    pending[0].set_result(None)
        else:
            self.core.receive(now, sender, message)

    async def _refresh_here(self, sender: int, message: LvmRefresh) -> None:
        ok, detail = await lvm_refresh.refresh(message.vg[:128], timeout=REFRESH_TIMEOUT)
        self.daemon.send(Send((sender,), LvmRefreshed(message.req, ok, detail[:500])))

    async def refresh(
        self, request: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        vg = str(request.get("vg", ""))[:128]
        others = set(self.daemon.membership.members) - {self.daemon.local.nodeid}
        req = self._next_refresh
        self._next_refresh += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        answers: dict[int, tuple[bool, str]] = {}
        self.refreshes[req] = (future, others, answers)
        started = time.monotonic()
        try:
            if others:
                self.daemon.send(Send(tuple(sorted(others)), LvmRefresh(req, vg)))
                try:
                    await asyncio.wait_for(future, float(request.get("timeout", REFRESH_TIMEOUT)))
                except TimeoutError:
                    pass
        finally:
            del self.refreshes[req]
        nodes = {}
        for nodeid in sorted(others):
            name = self.daemon.config.node_by_id(nodeid)
            ok, detail = answers.get(nodeid, (False, "no answer"))
            nodes[name.name if name else str(nodeid)] = {"ok": ok, "detail": detail}
        answer = {"ok": True, "nodes": nodes, "seconds": round(time.monotonic() - started, 3)}
        writer.write(json.dumps(answer).encode() + b"\n")
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
