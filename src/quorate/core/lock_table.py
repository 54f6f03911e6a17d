"""The lock master's table: resources, their grant, convert and wait queues, and the order grants follow.

Theory of operation
-------------------
One node, the coordinator of the quorate view, masters every resource (`quorate.core.locks` decides who and
when); this module is the table it keeps and the DLM's granting rules, with no messages and no clock of its
own. Every method takes ``now`` and appends answers to `answers`; the caller turns them into messages.

* A resource has three queues: *granted* (holders, each with its granted mode), *converting* (holders that
  asked for another mode, oldest first) and *waiting* (new requests, oldest first).
* A new request is granted at once only if nothing converts or waits and its mode is compatible with every
  granted mode; otherwise it waits at the tail (a try-lock is refused instead). A conversion is granted at
  once if it is compatible with the other holders and nothing converts before it, or if it is a down
  conversion. When anything is released or converted down, the converting queue is served first, in order,
  then the waiting queue, in order, each stopping at the first lock that cannot be granted: strict FIFO, so
  a stream of compatible readers can never starve a writer that queued before them (the fairness rule).
* A waiter's timeout runs on the master's clock from the moment it first heard the request; on expiry the
  request is refused with code ``timeout`` (a conversion keeps its old mode) and the queue behind it is
  served again.
* The value block (LVB) of a resource is returned with every grant and written by a holder that releases or
  converts down from PW or EX; its sequence number lets a new master keep the freshest copy.
* While `blocked` is set (recovery, or a failed node whose locks are unknown is not yet fenced) nothing is
  granted; try-locks are refused with the reason. Orphans (granted locks of a failed node) stay in the
  granted queue, blocking what conflicts with them, until `purge` removes them after the fence.
* Operations are idempotent: a repeated operation (same lock id and operation number) is answered again
  with the answer it got, so members may resend freely over a lossy network.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from quorate.core.lock_modes import LVB_WRITERS, MODES, NO_MODE, compatible, is_down

Key = tuple[int, int]  # (node id, lock id)
ResName = tuple[str, str]  # (lock space, resource name)
MAX_LOCKS = 100_000
DONE_MEMORY = 4096


@dataclass(frozen=True, slots=True)
class Answer:
    """What the master tells a lock's node: granted (mode, lvb), denied (code, detail) or unlocked."""

    node: int
    lkid: int
    op: int
    kind: str  # "grant" | "deny" | "unlocked"
    mode: int = NO_MODE
    lvb: bytes = b""
    lvb_seq: int = 0
    code: str = ""
    detail: str = ""


@dataclass(slots=True)
class MLock:
    node: int
    lkid: int
    op: int
    res: ResName
    granted: int = NO_MODE
    requested: int = NO_MODE
    deadline: float | None = None
    order: int = 0
    orphan: bool = False
    last: Answer | None = None


@dataclass(slots=True)
class Resource:
    name: ResName
    granted: list[MLock] = field(default_factory=list)
    converting: list[MLock] = field(default_factory=list)
    waiting: list[MLock] = field(default_factory=list)
    lvb: bytes = b""
    lvb_seq: int = 0

    def empty(self) -> bool:
        return not (self.granted or self.converting or self.waiting)


class LockTable:
    def __init__(self, names: dict[int, str] | None = None) -> None:
        self.names = names or {}
        self.resources: dict[ResName, Resource] = {}
        self.locks: dict[Key, MLock] = {}
        self.answers: list[Answer] = []
        self.blocked: str = ""  # why nothing may be granted now ("" when grants may flow)
        self.done: OrderedDict[Key, Answer] = OrderedDict()  # last answers of locks that no longer exist
        self.grant_trace: list[tuple[ResName, int, bool]] | None = None  # (resource, order, was waiting)
        self._order = 0
        self._dirty: set[ResName] = set()

    # --------------------------------------------------------------------------------- operations

    def request(
        self, now: float, node: int, lkid: int, op: int, res: ResName, mode: int, timeout: float | None
    ) -> None:
        key = (node, lkid)
        lock = self.locks.get(key)
        if lock is not None or key in self.done:
            self._repeat(key, op)
            return
        if len(self.locks) >= MAX_LOCKS:
            self._answer(
                None, Answer(node, lkid, op, "deny", code="busy", detail="the lock master holds too many locks")
            )
            return
        resource = self.resources.get(res) or self.resources.setdefault(res, Resource(res))
        lock = MLock(node, lkid, op, res, requested=mode, order=self._next_order())
        self.locks[key] = lock
        if not self.blocked and not resource.converting and not resource.waiting and self._fits(resource, lock, mode):
            resource.granted.append(lock)
            self._grant(lock, resource, was_waiting=False)
        elif timeout == 0.0:
            self._drop(lock)
            self._answer(None, Answer(node, lkid, op, "deny", code="busy", detail=self._why_busy(resource, mode)))
        else:
            lock.deadline = None if timeout is None else now + timeout
            resource.waiting.append(lock)

    def convert(
        self, now: float, node: int, lkid: int, op: int, mode: int, timeout: float | None, lvb: bytes | None
    ) -> None:
        key = (node, lkid)
        lock = self.locks.get(key)
        if lock is None or op <= lock.op:
            self._repeat(key, op)
            return
        resource = self.resources[lock.res]
        if lock.granted == NO_MODE or lock.requested != NO_MODE:
            busy = "another operation is in progress"
            self._answer(lock, Answer(node, lkid, op, "deny", lock.granted, code="busy", detail=busy))
            return
        lock.op = op
        if lvb is not None and lock.granted in LVB_WRITERS and is_down(lock.granted, mode):
            self._write_lvb(resource, lvb)
        down = is_down(lock.granted, mode)
        if (down or (not self.blocked and not resource.converting)) and self._fits(resource, lock, mode):
            lock.granted = mode
            self._grant(lock, resource, was_waiting=False)
            self._dirty.add(resource.name)
        elif timeout == 0.0:
            why = self._why_busy(resource, mode)
            self._answer(lock, Answer(node, lkid, op, "deny", lock.granted, code="busy", detail=why))
        else:
            lock.requested = mode
            lock.deadline = None if timeout is None else now + timeout
            lock.order = self._next_order()
            resource.converting.append(lock)
            self._dirty.add(resource.name)
        self.serve()

    def unlock(self, now: float, node: int, lkid: int, op: int, lvb: bytes | None) -> None:
        key = (node, lkid)
        lock = self.locks.get(key)
        if lock is None:
            previous = self.done.get(key)
            if previous is not None and previous.kind == "unlocked" and previous.op >= op:
                self._answer(None, previous)
            else:
                self._answer(None, Answer(node, lkid, op, "unlocked"))
            return
        if op < lock.op:
            return
        resource = self.resources[lock.res]
        if lvb is not None and lock.granted in LVB_WRITERS:
            self._write_lvb(resource, lvb)
        self._drop(lock)
        self._answer(None, Answer(node, lkid, op, "unlocked"))
        self.serve()

    def expire(self, now: float) -> None:
        for resource in list(self.resources.values()):
            for queue in (resource.converting, resource.waiting):
                for lock in [lk for lk in queue if lk.deadline is not None and lk.deadline <= now]:
                    self._refuse(lock, resource, "timeout", "timed out waiting for the lock")
                    self._dirty.add(resource.name)
        self.serve()

    def orphan(self, node: int) -> int:
        """`node` failed: its granted locks stay (blocking) until its fence, what it waited for is dropped."""
        kept = 0
        for lock in [lk for lk in self.locks.values() if lk.node == node]:
            if lock.granted == NO_MODE:
                self._drop(lock)
                continue
            resource = self.resources[lock.res]
            if lock in resource.converting:
                resource.converting.remove(lock)
                self._dirty.add(resource.name)
            lock.requested, lock.deadline, lock.orphan = NO_MODE, None, True
            kept += 1
        return kept

    def purge(self, node: int) -> list[MLock]:
        """Forget every lock of `node` (it left cleanly, or it is fenced): its resources may be granted again."""
        gone = [lk for lk in self.locks.values() if lk.node == node]
        for lock in gone:
            self._drop(lock)
        self.serve()
        return gone

    def serve(self) -> None:
        """Grant what the queues allow, converting queue first, each in order (see the module docstring)."""
        if self.blocked:
            return
        dirty, self._dirty = self._dirty, set()
        for name in sorted(dirty):
            resource = self.resources.get(name)
            if resource is None:
                continue
            while resource.converting:
                lock = resource.converting[0]
                if not self._fits(resource, lock, lock.requested):
                    if self._deadlocked(resource, lock):
                        self._refuse(lock, resource, "deadlock", "conversion deadlock: another holder converts too")
                        continue
                    break
                resource.converting.pop(0)
                lock.granted, lock.requested, lock.deadline = lock.requested, NO_MODE, None
                self._grant(lock, resource, was_waiting=False)
            while not resource.converting and resource.waiting:
                lock = resource.waiting[0]
                if not self._fits(resource, lock, lock.requested):
                    break
                resource.waiting.pop(0)
                resource.granted.append(lock)
                self._grant(lock, resource, was_waiting=True)
            if resource.empty() and not resource.lvb_seq:
                del self.resources[name]

    def touch_all(self) -> None:
        self._dirty |= set(self.resources)

    # ------------------------------------------------------------------------------------- rebuilding

    def adopt(self, lock: MLock, lvb: bytes, lvb_seq: int) -> None:
        """Put a lock a member (or the old table) reports into the table as it is; queues are sorted later."""
        resource = self.resources.get(lock.res) or self.resources.setdefault(lock.res, Resource(lock.res))
        self.locks[(lock.node, lock.lkid)] = lock
        if lock.granted != NO_MODE:
            resource.granted.append(lock)
            if lock.requested != NO_MODE:
                resource.converting.append(lock)
        elif lock.requested != NO_MODE:
            resource.waiting.append(lock)
        if lvb_seq > resource.lvb_seq:
            resource.lvb, resource.lvb_seq = lvb, lvb_seq

    def adopt_lvb(self, name: ResName, lvb: bytes, lvb_seq: int) -> None:
        """Keep the freshest copy of a resource's value block seen during a rebuild."""
        if lvb_seq <= 0:
            return
        resource = self.resources.get(name) or self.resources.setdefault(name, Resource(name))
        if lvb_seq > resource.lvb_seq:
            resource.lvb, resource.lvb_seq = bytes(lvb), lvb_seq

    def renumber(self, age: dict[Key, float]) -> None:
        """After a rebuild: order converters and waiters oldest first (by how long each has waited)."""
        for resource in self.resources.values():
            for queue in (resource.converting, resource.waiting):
                queue.sort(key=lambda lk: (-age.get((lk.node, lk.lkid), 0.0), lk.node, lk.lkid))
                for lock in queue:
                    lock.order = self._next_order()
        self.touch_all()

    # ---------------------------------------------------------------------------------------- queries

    def holders(self) -> Iterator[MLock]:
        for resource in self.resources.values():
            yield from resource.granted

    def describe(self, names: dict[int, str]) -> list[dict[str, object]]:
        def who(lock: MLock) -> dict[str, object]:
            return {
                "node": names.get(lock.node, str(lock.node)),
                "lkid": lock.lkid,
                "granted": MODES[lock.granted] if lock.granted != NO_MODE else None,
                "requested": MODES[lock.requested] if lock.requested != NO_MODE else None,
                "orphan": lock.orphan,
            }

        return [
            {
                "lockspace": r.name[0],
                "name": r.name[1],
                "granted": [who(lk) for lk in r.granted],
                "converting": [who(lk) for lk in r.converting],
                "waiting": [who(lk) for lk in r.waiting],
                "lvb_seq": r.lvb_seq,
            }
            for r in sorted(self.resources.values(), key=lambda r: r.name)
        ]

    def next_deadline(self) -> float | None:
        times = [lk.deadline for lk in self.locks.values() if lk.deadline is not None and lk.requested != NO_MODE]
        return min(times) if times else None

    # -------------------------------------------------------------------------------------- internals

    def _fits(self, resource: Resource, lock: MLock, mode: int) -> bool:
        return all(compatible(other.granted, mode) for other in resource.granted if other is not lock)

    def _deadlocked(self, resource: Resource, head: MLock) -> bool:
        """The first conversion waits for a holder that itself waits to convert: neither can ever go on.

        The DLM answers such a conversion with EDEADLK and leaves the lock in its granted mode; so do we.
        """
        return any(
            other is not head and other in resource.converting and not compatible(other.granted, head.requested)
            for other in resource.granted
        )

    def _why_busy(self, resource: Resource, mode: int) -> str:
        if self.blocked:
            return self.blocked
        holders = [lk for lk in resource.granted if not compatible(lk.granted, mode)]
        if holders:
            lock = holders[0]
            state = " (failed, waiting for its fence)" if lock.orphan else ""
            return f"held in {MODES[lock.granted]} by {self.names.get(lock.node, f'node {lock.node}')}{state}"
        return "other requests are queued before it"

    def _grant(self, lock: MLock, resource: Resource, *, was_waiting: bool) -> None:
        mode = lock.granted if lock.requested == NO_MODE else lock.requested
        lock.granted, lock.requested, lock.deadline = mode, NO_MODE, None
        if self.grant_trace is not None:
            self.grant_trace.append((resource.name, lock.order, was_waiting))
        self._answer(lock, Answer(lock.node, lock.lkid, lock.op, "grant", mode, resource.lvb, resource.lvb_seq))

    def _refuse(self, lock: MLock, resource: Resource, code: str, detail: str) -> None:
        answer = Answer(lock.node, lock.lkid, lock.op, "deny", mode=lock.granted, code=code, detail=detail)
        if lock.granted == NO_MODE:
            self._drop(lock)
            self._answer(None, answer)
        else:
            if lock in resource.converting:
                resource.converting.remove(lock)
            lock.requested, lock.deadline = NO_MODE, None
            self._answer(lock, answer)

    def _drop(self, lock: MLock) -> None:
        resource = self.resources.get(lock.res)
        self.locks.pop((lock.node, lock.lkid), None)
        if resource is not None:
            for queue in (resource.granted, resource.converting, resource.waiting):
                if lock in queue:
                    queue.remove(lock)
            self._dirty.add(resource.name)
            if resource.empty() and not resource.lvb_seq:
                del self.resources[resource.name]

    def _write_lvb(self, resource: Resource, lvb: bytes) -> None:
        resource.lvb = bytes(lvb)
        resource.lvb_seq += 1

    def _answer(self, lock: MLock | None, answer: Answer) -> None:
        key = (answer.node, answer.lkid)
        if lock is not None:
            lock.last = answer
        else:
            self.done[key] = answer
            self.done.move_to_end(key)
            while len(self.done) > DONE_MEMORY:
                self.done.popitem(last=False)
        self.answers.append(answer)

    def _repeat(self, key: Key, op: int) -> None:
        """A repeated operation: answer it again with what it got (if it got anything yet)."""
        lock = self.locks.get(key)
        last = lock.last if lock is not None else self.done.get(key)
        if last is not None and last.op == op:
            self.answers.append(last)

    def _next_order(self) -> int:
        self._order += 1
        return self._order
