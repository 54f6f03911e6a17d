"""The member half of the lock service (every node): the locks this node's clients hold or wait for.

Theory of operation
-------------------
For each lock its clients asked for, a node keeps what the master granted and what is still asked (`Held`).
Every operation on a lock (request, convert, unlock) takes the next operation number of that lock and goes to
the master of the quorate view, again every `RESEND` seconds until the master answers that number. The master
answers a repeated operation again instead of doing it twice, so lost or duplicated datagrams are harmless.
Answers from another view, from a node that is not the master, or to an older operation are ignored; a grant
that arrives for an operation this node gave up on is handed back at once with an unlock.

On the master itself nothing is sent: the node's own operations go straight to its master half (`deliver`),
and the master half hands its answers back through `receive`.

When a view is installed the operations in flight wait one more `RESEND` before they go to the (maybe new)
master, which needs that time to recover. A recovering master asks every member what it holds and waits for:
the member answers with its inventory (in chunks of `INVENTORY_CHUNK` entries, with the nodes its fencing
layer still has to fence, which a new master may not know). A conversion or request in flight is listed with
the time it has waited and the time it may still wait, so the rebuilt queues keep their order and deadlines.

A node that is in no quorate view any more (quorum lost, evicted, leaving) drops every lock at once and tells
its clients (`LockLost`): the others recover those locks once it is fenced. An unlock in flight then counts as
done (`LockReleased`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.effects import Send
from quorate.core.lock_messages import (
    LockConvert,
    LockDeny,
    LockEntry,
    LockGrant,
    LockInventory,
    LockRecover,
    LockRequest,
    LockUnlock,
    LockUnlocked,
)
from quorate.core.lock_modes import (
    MODES,
    NO_MODE,
    LockError,
    NoQuorum,
    check_lvb,
    check_name,
    check_timeout,
    parse_mode,
    to_ms,
)
from quorate.core.lock_state import LockDenied, LockGranted, LockLost, LockReleased, LockState
from quorate.core.messages import Message

RESEND = 0.5
INVENTORY_CHUNK = 24


@dataclass(slots=True)
class Held:
    """One lock of this node, as its member half knows it."""

    lkid: int
    lockspace: str
    name: str
    granted: int = NO_MODE
    requested: int = NO_MODE
    op: int = 0
    pending: str = ""  # "request" | "convert" | "unlock" | ""
    deadline: float | None = None
    since: float = 0.0
    sent_at: float = -1e18
    lvb: bytes = b""
    lvb_seq: int = 0
    new_lvb: bytes | None = None


class LockMember:
    """This node's locks: the client operations, their resends, the master's answers, and the inventory."""

    def __init__(self, state: LockState, *, deliver: Callable[[float, Message], None]) -> None:
        """``deliver``: hands an operation to this node's own master half (used only while it masters)."""
        self._state = state
        self._deliver = deliver
        self.held: dict[int, Held] = {}
        self._next_lkid = 1

    # ------------------------------------------------------------------------------------ client operations

    def lock(self, now: float, lockspace: str, name: str, mode: str | int, *, timeout: float | None) -> int:
        check_name("lock space", lockspace)
        check_name("lock", name)
        wanted = parse_mode(mode)
        wait = check_timeout(timeout)
        if self._state.view is None:
            raise NoQuorum("this node is not in a quorate cluster: no lock can be granted")
        lkid = self._next_lkid
        self._next_lkid += 1
        held = Held(lkid, lockspace, name, requested=wanted, op=1, pending="request", since=now)
        held.deadline = None if wait is None else now + wait
        self.held[lkid] = held
        self._send_op(now, held)
        return lkid

    def convert(self, now: float, lkid: int, mode: str | int, *, timeout: float | None, lvb: bytes | None) -> None:
        held = self._own(lkid)
        wanted = parse_mode(mode)
        wait = check_timeout(timeout)
        check_lvb(lvb)
        if held.pending or held.granted == NO_MODE:
            raise LockError(f"lock {lkid} is not granted, or an operation on it is still in progress")
        held.op += 1
        held.pending, held.requested, held.since = "convert", wanted, now
        held.deadline = None if wait is None else now + wait
        held.new_lvb = lvb
        self._send_op(now, held)

    def unlock(self, now: float, lkid: int, *, lvb: bytes | None) -> None:
        held = self._own(lkid)
        check_lvb(lvb)
        if held.pending == "unlock":
            return
        held.op += 1
        held.pending, held.deadline, held.since = "unlock", None, now
        held.new_lvb = lvb
        self._send_op(now, held)

    def lose_everything(self, now: float, reason: str) -> None:
        """This node is in no quorate view any more: every lock is gone, and its clients are told."""
        state = self._state
        if self.held:
            state.log(f"dropping {len(self.held)} cluster lock(s): {reason}", "warning")
        for held in sorted(self.held.values(), key=lambda h: h.lkid):
            if held.pending == "unlock":
                state.effects.append(LockReleased(held.lkid))
            else:
                state.effects.append(LockLost(held.lkid, reason, held.granted != NO_MODE))
        self.held.clear()
        state.view, state.master, state.members = None, 0, frozenset()

    # ------------------------------------------------------------------------------------------- resends

    def view_installed(self, now: float) -> None:
        """Operations in flight go to the master of the new view after one more `RESEND`."""
        for held in self.held.values():
            held.sent_at = now

    def resend(self, now: float) -> None:
        """Send again every operation the master has not answered for `RESEND` seconds."""
        if self._state.view is None or self._state.acting:
            return
        for held in list(self.held.values()):
            if held.pending and now >= held.sent_at + RESEND:
                self._send_op(now, held)

    def deadlines(self) -> list[float]:
        """When unanswered operations are due again (never on the master: it delivers them to itself)."""
        if self._state.acting or self._state.view is None:
            return []
        return [h.sent_at + RESEND for h in self.held.values() if h.pending]

    # ------------------------------------------------------------------------------------ master's messages

    def receive(self, now: float, sender: int, message: Message) -> None:
        """An answer of the master (grant, deny, unlocked) or its request for this node's inventory."""
        state = self._state
        if state.view is None or sender != state.master:
            return
        if isinstance(message, LockRecover):
            if message.view == state.view:
                self._send_inventory(now, message.rid)
            return
        if not isinstance(message, (LockGrant, LockDeny, LockUnlocked)) or message.view != state.view:
            return
        held = self.held.get(message.lkid)
        if held is None or message.op > held.op:
            if isinstance(message, LockGrant):  # granted after we gave up on it: give it back
                self._to_master(now, LockUnlock(state.view, message.lkid, message.op + 1))
            return
        if message.op != held.op or not held.pending:
            return
        if isinstance(message, LockGrant) and held.pending in ("request", "convert"):
            held.granted, held.requested, held.pending = message.mode, NO_MODE, ""
            held.lvb, held.lvb_seq, held.deadline, held.new_lvb = message.lvb, message.lvb_seq, None, None
            state.effects.append(LockGranted(held.lkid, MODES[message.mode], message.lvb))
        elif isinstance(message, LockDeny) and held.pending in ("request", "convert"):
            if held.pending == "convert" and 0 <= message.mode < len(MODES):
                held.granted = message.mode  # after a recovery the master may keep less than the old mode
            keep = MODES[held.granted] if held.pending == "convert" else None
            held.requested, held.pending, held.deadline, held.new_lvb = NO_MODE, "", None, None
            if keep is None:
                del self.held[held.lkid]
            state.effects.append(LockDenied(held.lkid, message.code, message.detail, keep))
        elif isinstance(message, LockUnlocked) and held.pending == "unlock":
            del self.held[held.lkid]
            state.effects.append(LockReleased(held.lkid))

    def inventory(self, now: float) -> list[LockEntry]:
        """What this node holds and asks for, as a recovering master rebuilds its table from it."""
        entries = []
        for h in sorted(self.held.values(), key=lambda h: h.lkid):
            asking = h.pending in ("request", "convert")
            remaining = -1 if h.deadline is None else to_ms(max(0.0, h.deadline - now))
            entries.append(
                LockEntry(
                    h.lkid,
                    h.op,
                    h.lockspace,
                    h.name,
                    h.granted,
                    h.requested if asking else NO_MODE,
                    remaining if asking else -1,
                    to_ms(now - h.since) if asking else 0,
                    h.lvb,
                    h.lvb_seq,
                    h.pending == "unlock",
                    h.new_lvb,
                )
            )
        return entries

    def describe(self, now: float) -> list[dict[str, object]]:
        """This node's locks for `quorate locks` (modes by name, how long the current operation has waited)."""

        def mode(m: int) -> str | None:
            return MODES[m] if m != NO_MODE else None

        return [
            {
                "lkid": h.lkid,
                "lockspace": h.lockspace,
                "name": h.name,
                "granted": mode(h.granted),
                "requested": mode(h.requested) if h.pending in ("request", "convert") else None,
                "pending": h.pending,
                "for": now - h.since,
            }
            for h in sorted(self.held.values(), key=lambda h: h.lkid)
        ]

    # ------------------------------------------------------------------------------------------- internals

    def _own(self, lkid: int) -> Held:
        held = self.held.get(lkid)
        if held is None:
            raise LockError(f"no lock {lkid} on this node")
        return held

    def _send_op(self, now: float, held: Held) -> None:
        view = self._state.view
        assert view is not None
        held.sent_at = now
        message: Message
        if held.pending == "unlock":
            message = LockUnlock(view, held.lkid, held.op, held.new_lvb)
        else:
            remaining = -1 if held.deadline is None else to_ms(max(0.0, held.deadline - now))
            if remaining == 0 and held.deadline is not None and held.deadline > held.since:
                remaining = 1  # a resend after the local deadline is not a try-lock
            if held.pending == "request":
                message = LockRequest(view, held.lkid, held.op, held.lockspace, held.name, held.requested, remaining)
            else:
                message = LockConvert(view, held.lkid, held.op, held.requested, remaining, held.new_lvb)
        self._to_master(now, message)

    def _to_master(self, now: float, message: Message) -> None:
        if self._state.acting:
            self._deliver(now, message)
        else:
            self._state.effects.append(Send((self._state.master,), message))

    def _send_inventory(self, now: float, rid: int) -> None:
        state = self._state
        assert state.view is not None
        entries = self.inventory(now)
        chunks = [tuple(entries[i : i + INVENTORY_CHUNK]) for i in range(0, len(entries), INVENTORY_CHUNK)] or [()]
        unfenced = tuple(sorted(state.unfenced()))
        for part, chunk in enumerate(chunks):
            message = LockInventory(state.view, rid, part, len(chunks), chunk, unfenced)
            state.effects.append(Send((state.master,), message))
