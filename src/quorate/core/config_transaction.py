"""The coordinator's two-phase transaction: stage on every member, then commit, or abort everywhere.

Theory of operation
-------------------
Only the coordinator of the quorate view runs a push (one authority), and one at a time: a second push while one
is in progress is refused with "try again". A push whose version is not greater than the running one is refused
as ccs_tool refused it. Otherwise the coordinator numbers the transaction (its run's first number, given by the
shell from the boot epoch, plus a counter, with its node id in the low byte), so that a restarted coordinator
does not reuse the numbers of pushes it left unfinished; every answer and commit is matched on number and
SHA-256 anyway. Then:

1. *stage*: the file goes to every member of the view as it is when the push begins (the coordinator itself
   included: it stages its own copy), repeated every `RESEND` seconds to the members that have not answered. Each
   member checks the chunks against the SHA-256, has the shell validate the file against the configuration it runs
   (version rule, cluster name, schema and semantic checks) and write it aside, and answers staged, or refused and
   why.
2. *commit*: only when every member staged it does the coordinator send the commit to the others, and then
   activate it itself, answering "Config file updated from version A to B".

A refusal, a member silent past the push timeout, or a change of view before that point (a member left, quorum
was lost, this node no longer coordinates) aborts the transaction everywhere (the staged files are discarded),
and the answer names the node and the reason; nothing changes. The requester hears the answer directly when it is
this node, in a `CfgResult` otherwise (a first one, not done, tells it the coordinator has the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quorate.core.config_messages import PURPOSE_STAGE, CfgAbort, CfgChunk, CfgCommit, CfgResult, CfgStaged
from quorate.core.config_request import Requests
from quorate.core.config_state import RESEND, Activate, ConfigState, Discard, Stage, StagedFile, not_greater
from quorate.core.config_transfer import chunks
from quorate.core.effects import Send


@dataclass
class Transaction:
    """The coordinator's push in progress."""

    tx: int
    origin: int
    req: int
    version: int
    digest: str
    data: bytes
    members: frozenset[int]
    deadline: float
    staged: set[int] = field(default_factory=set)
    last_send: float = -1.0


class Coordinator:
    """The push this node runs as coordinator, if any."""

    def __init__(self, state: ConfigState, requests: Requests, *, first_tx: int) -> None:
        self._state = state
        self._requests = requests
        self.tx: Transaction | None = None
        self._next_tx = first_tx

    def view_changed(self, now: float) -> None:
        """A push whose participants changed cannot commit (the state has the new view already)."""
        state = self._state
        tx = self.tx
        if tx is None:
            return
        if not state.quorate or state.coordinator != state.local_id or not tx.members <= state.members:
            lost = sorted(tx.members - state.members)
            why = (
                "the cluster lost quorum during the push"
                if not state.quorate
                else f"{state.names_of(lost)} left the view during the push"
                if lost
                else "this node is no longer the coordinator"
            )
            self.abort(now, f"{why}; nothing changed")

    def accepts_push(self, sender: int, chunk: CfgChunk) -> bool:
        """Gather a member's push chunk? Only as coordinator of a quorate view; a repeat of the push in progress
        is answered again instead (the requester missed the answer that it was received)."""
        state = self._state
        if state.coordinator != state.local_id or not state.quorate or sender not in state.members:
            return False
        if self.tx is not None and self.tx.origin == sender and self.tx.req == chunk.tx:
            state.send((sender,), CfgResult(chunk.tx, False, True, "received by the coordinator"))
            return False
        return True

    def begin(self, now: float, origin: int, req: int, version: int, digest: str, data: bytes) -> None:
        """Push request ``req`` of node ``origin``: start staging it everywhere, or refuse it."""
        state = self._state
        if self.tx is not None:
            self.answer(origin, req, False, f"another push (version {self.tx.version}) is in progress; try again")
            return
        if version <= state.version:
            self.answer(origin, req, False, not_greater(state.version, version))
            return
        self._next_tx += 1
        tx = ((self._next_tx & 0xFFFFFFFFFFFF) << 8) | (state.local_id & 0xFF)
        self.tx = Transaction(tx, origin, req, version, digest, data, state.members, now + state.timeout)
        state.log(f"distributing configuration version {version} to {state.names_of(sorted(state.members))}")
        if origin != state.local_id:
            state.send((origin,), CfgResult(req, False, True, "received by the coordinator"))
        state.staged = StagedFile(tx, version, digest, data, now)
        state.effects.append(Stage(tx, version, digest, data))

    def on_staged(self, now: float, sender: int, message: CfgStaged) -> None:
        """A member's answer (this node's own too): one refusal aborts; the last staged commits."""
        state = self._state
        tx = self.tx
        if tx is None or (tx.tx, tx.digest) != (message.tx, message.digest) or sender not in tx.members:
            return
        if not message.ok:
            self.abort(now, f"{state.name(sender)} refused version {tx.version}: {message.error}")
            return
        tx.staged.add(sender)
        if tx.staged >= tx.members:
            self.tx = None
            others = tuple(sorted(tx.members - {state.local_id}))
            if others:
                state.effects.append(Send(others, CfgCommit(tx.tx, tx.version, tx.digest)))
            state.staged = None
            text = f"Config file updated from version {state.version} to {tx.version}"
            state.effects.append(Activate(tx.version, tx.digest, tx.data, "every member staged it"))
            self.answer(tx.origin, tx.req, True, text)

    def abort(self, now: float, reason: str) -> None:
        state = self._state
        tx = self.tx
        if tx is None:
            return
        self.tx = None
        state.log(f"configuration version {tx.version} not activated: {reason}", "warning")
        others = tuple(sorted((tx.members | state.members) - {state.local_id}))
        if others:
            state.effects.append(Send(others, CfgAbort(tx.tx, reason)))
        if state.staged is not None and state.staged.tx == tx.tx:
            state.staged = None
            state.effects.append(Discard(tx.tx, reason))
        self.answer(tx.origin, tx.req, False, reason)

    def answer(self, origin: int, req: int, ok: bool, text: str) -> None:
        """The final answer to the push's requester, wherever it was typed."""
        if origin == self._state.local_id:
            self._requests.finish(req, ok, text)
        else:
            self._state.send((origin,), CfgResult(req, True, ok, text))

    def pump(self, now: float) -> None:
        """Abort past the deadline, naming the silent members; otherwise repeat the stage to them when due."""
        state = self._state
        tx = self.tx
        if tx is None:
            return
        if now >= tx.deadline:
            silent = sorted(tx.members - tx.staged)
            self.abort(now, f"{state.names_of(silent)} did not answer within {state.timeout:g} s; nothing changed")
        elif now >= tx.last_send + RESEND:
            tx.last_send = now
            waiting = tuple(sorted(tx.members - tx.staged - {state.local_id}))
            if waiting:
                for chunk in chunks(PURPOSE_STAGE, tx.tx, tx.version, tx.digest, tx.data):
                    state.effects.append(Send(waiting, chunk))

    def deadlines(self) -> list[float]:
        return [] if self.tx is None else [self.tx.deadline, self.tx.last_send + RESEND]
