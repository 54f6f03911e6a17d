"""The member side of a push: stage what the coordinator sends, then activate it on the commit (or without it).

Theory of operation
-------------------
A member takes stage chunks only from the coordinator of its quorate view. Once the file is whole and matches its
SHA-256 it becomes the staged file and the shell validates and writes it aside (`Stage`); the member answers with
what the shell found (staged, or refused and why). A refused file is not kept. The last few answers are
remembered: when an answer is lost the coordinator repeats its chunks, and the member repeats its answer instead
of validating the file again; chunks of the file the shell is validating right now are ignored.

The commit activates the staged file if it is the file of that transaction (number and SHA-256: numbers may
repeat after a coordinator restarts) and comes from the coordinator. A commit for a version this member does not
have staged (it missed the stage) makes it fetch that version from the committer. An abort from the coordinator
discards the staged file.

Commit messages can be lost, and the coordinator can die right after sending some. So a member that still holds
the staged file and hears, in heartbeats, a fellow member of its quorate view run exactly that version and digest
activates it too: it was validated by every member before anyone activated it. After any fault every member thus
ends on the old version or the new one, never a mix. A staged file that nobody activates expires after
`STAGED_TTL` seconds (unless it belongs to the push this node is coordinating).
"""

from __future__ import annotations

from quorate.core.config_messages import CfgAbort, CfgChunk, CfgCommit, CfgFetch, CfgStaged
from quorate.core.config_state import ConfigState, Discard, Stage, StagedFile
from quorate.core.config_transfer import short

STAGED_TTL = 120.0
ANSWERS_KEPT = 4


class Member:
    """This node's staged file as a member, and its answers to the coordinator."""

    def __init__(self, state: ConfigState) -> None:
        self._state = state
        self._answered: dict[tuple[int, str], CfgStaged] = {}

    def accepts_stage(self, sender: int, chunk: CfgChunk) -> bool:
        """Gather this stage chunk? Only from the coordinator of a quorate view, and only for a file not yet
        answered (the answer is repeated instead) nor being validated now."""
        state = self._state
        if sender != state.coordinator or not state.quorate:
            return False
        answered = self._answered.get((chunk.tx, chunk.digest))
        if answered is not None:  # our answer was lost: the coordinator repeats its chunks
            state.send((sender,), answered)
            return False
        # a file of this push staged already is being validated by the shell right now
        return state.staged is None or not state.staged.of(chunk.tx, chunk.digest)

    def stage(self, now: float, chunk: CfgChunk, data: bytes) -> None:
        """The whole file of a stage: keep it, and have the shell validate and write it aside."""
        self._state.staged = StagedFile(chunk.tx, chunk.version, chunk.digest, data, now)
        self._state.effects.append(Stage(chunk.tx, chunk.version, chunk.digest, data))

    def staged_result(self, tx: int, digest: str, ok: bool, error: str) -> CfgStaged:
        """What the shell found (a refused file is dropped); the answer, remembered for a repeated stage."""
        state = self._state
        if not ok and state.staged is not None and state.staged.of(tx, digest):
            state.staged = None
        answer = CfgStaged(tx, digest, ok, error)
        self._answered[(tx, digest)] = answer
        while len(self._answered) > ANSWERS_KEPT:
            del self._answered[next(iter(self._answered))]
        return answer

    def on_commit(self, sender: int, message: CfgCommit) -> None:
        state = self._state
        staged = state.staged
        if staged is not None and staged.of(message.tx, message.digest) and sender == state.coordinator:
            state.activate_staged(f"committed by {state.name(sender)}")
        elif message.version > state.version:
            state.send((sender,), CfgFetch(message.version, short(message.digest)))

    def on_abort(self, sender: int, message: CfgAbort) -> None:
        state = self._state
        staged = state.staged
        if staged is not None and staged.tx == message.tx and sender == state.coordinator:
            state.staged = None
            state.effects.append(Discard(message.tx, message.reason))

    def activate_on_hearing(self, sender: int, version: int, digest: str, *, member: bool) -> bool:
        """A fellow member of this quorate view runs the staged file (``digest`` is short): activate it too."""
        state = self._state
        staged = state.staged
        if (
            state.in_quorate_view()
            and member
            and staged is not None
            and (version, digest) == (staged.version, short(staged.digest))
        ):
            state.log(f"{state.name(sender)} runs configuration version {version}, staged here: activating it")
            state.activate_staged(f"as {state.name(sender)} did")
            return True
        return False

    def expire(self, now: float, coordinating: int | None) -> None:
        """Drop a staged file never committed, unless it is the push ``coordinating`` (this node's own)."""
        state = self._state
        staged = state.staged
        if staged is not None and now >= staged.since + STAGED_TTL and coordinating != staged.tx:
            state.staged = None
            state.effects.append(Discard(staged.tx, "never committed"))

    def deadlines(self) -> list[float]:
        staged = self._state.staged
        return [] if staged is None else [staged.since + STAGED_TTL]
