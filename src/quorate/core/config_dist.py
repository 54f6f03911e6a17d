"""Configuration distribution, all or nothing (safety rule S5; what `ccs_tool update` and ccsd did, spec C-40..C-43).

Theory of operation
-------------------
A push starts on any member (``push``): the file has already been validated there by the shell. It is sent in
chunks to the coordinator of the quorate view, the one authority, so two pushes never interleave. The
coordinator runs a two-phase transaction over the members of its view:

1. *stage*: the file goes to every member (itself included); each member checks the chunks against the
   file's SHA-256, validates the file against the configuration it runs (the shell does that: version rule,
   cluster name, schema and semantic checks) and writes it aside; it answers staged or refused-and-why.
2. *commit*: only when every member staged it does the coordinator send the commit, and then activates it
   itself. A refusal, a member silent past the deadline, or a change of view before that point aborts the
   transaction everywhere and names the node and the reason; nothing changes.

Commit messages can be lost and the coordinator can die right after sending some: a member that still holds
the staged file and hears, in heartbeats, a fellow member of its view running exactly that version and digest
activates it too (it was validated by everyone). So after any fault every member ends on the old version or
the new one, never a mix. Staged files that nobody activates expire.

A node outside the quorate view that hears quorate members run a *newer* version fetches the file from one of
them and activates it after its own validation, before membership admits it (membership refuses a node whose
version differs from the view's). A node with a *newer* version than the quorate cluster is not downgraded:
membership keeps refusing it, naming both versions, until an administrator pushes or replaces the file.

Pure: time comes in as ``now``, bytes and SHA-256 are computed here, files are written by the shell on the
`Stage`/`Activate`/`Adopt` effects, which answers through `staged`/`activated`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from quorate.core.config_messages import (
    CHUNK_BYTES,
    PURPOSE_FETCH,
    PURPOSE_PUSH,
    PURPOSE_STAGE,
    CfgAbort,
    CfgChunk,
    CfgCommit,
    CfgFetch,
    CfgResult,
    CfgStaged,
    ConfigMessage,
)
from quorate.core.effects import Log, Send
from quorate.core.messages import FLAG_QUORATE, Heartbeat

MAX_FILE_BYTES = 1 << 20
RESEND = 0.5  # seconds between repeats of an unanswered message
FETCH_RETRY = 2.0
ASSEMBLY_TTL = 30.0
STAGED_TTL = 120.0
NOT_QUORATE = "Unable to honor update request. Cluster is not quorate."


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def not_greater(current: int, proposed: int) -> str:
    """ccs_tool's refusal of a version that is not higher (spec C-41), both versions named."""
    return (
        "Proposed updated config file does not have greater version number.\n"
        f"  Current config_version :: {current}\n  Proposed config_version:: {proposed}"
    )


def short(digest: str) -> str:
    """The 16 hex digits heartbeats carry (enough to tell two files apart; the full hash checks the bytes)."""
    return digest[:16]


@dataclass(frozen=True)
class Stage:
    """Validate ``data`` against the running configuration, write it aside, answer with `staged`."""

    tx: int
    version: int
    digest: str
    data: bytes


@dataclass(frozen=True)
class Activate:
    """Make the staged (or fetched and validated) file the running one, then call `activated`."""

    version: int
    digest: str
    data: bytes
    why: str


@dataclass(frozen=True)
class Adopt:
    """A fetched file: validate it as a successor of the running one; if valid, activate it."""

    version: int
    digest: str
    data: bytes
    source: int


@dataclass(frozen=True)
class Discard:
    """Drop the staged file of ``tx`` (aborted or expired)."""

    tx: int
    why: str


@dataclass(frozen=True)
class PushDone:
    """The final answer to the local request ``req`` (a `ccs_tool update` or `quorate config push` waiting)."""

    req: int
    ok: bool
    text: str


ConfigEffect = Send | Log | Stage | Activate | Adopt | Discard | PushDone


@dataclass
class _Assembly:
    version: int
    digest: str
    total: int
    started: float
    chunks: dict[int, bytes] = field(default_factory=dict)

    def add(self, chunk: CfgChunk) -> bytes | None:
        """The whole file once every chunk is in and its hash matches; None while incomplete."""
        self.chunks[chunk.index] = chunk.data
        if len(self.chunks) < self.total:
            return None
        data = b"".join(self.chunks[i] for i in range(self.total))
        return data if digest_of(data) == self.digest else b""


@dataclass(frozen=True)
class _Staged:
    """A file validated and written aside, waiting for its commit."""

    tx: int
    version: int
    digest: str
    data: bytes
    since: float

    def of(self, tx: int, digest: str) -> bool:
        """Is this the file of push ``tx`` with that SHA-256 (numbers alone may repeat after a restart)?"""
        return (self.tx, self.digest) == (tx, digest)


@dataclass
class _Tx:
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


@dataclass
class _Request:
    """A push typed on this node, until the coordinator answers."""

    req: int
    version: int
    digest: str
    data: bytes
    deadline: float
    coordinator: int = 0
    received: bool = False
    last_send: float = -1.0


def chunks(purpose: str, tx: int, version: int, digest: str, data: bytes) -> list[CfgChunk]:
    pieces = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    return [CfgChunk(purpose, tx, version, digest, i, len(pieces), p) for i, p in enumerate(pieces)]


class ConfigDistribution:
    """One node's part in configuration distribution. Feed inputs, then drain `take_effects()`."""

    def __init__(
        self, local_id: int, version: int, data: bytes, *, names: dict[int, str], timeout: float, first_tx: int = 0
    ) -> None:
        """``first_tx``: where this run's transaction numbers start (the shell passes its boot epoch), so that a
        restarted coordinator does not reuse the numbers of pushes it left unfinished; answers and commits are
        matched on (number, SHA-256) anyway."""
        self.local_id = local_id
        self.names = dict(names)
        self.timeout = timeout
        self.version = version
        self.data = data
        self.digest = digest_of(data)
        self.members: frozenset[int] = frozenset()
        self.coordinator = 0
        self.quorate = False
        self.staged: _Staged | None = None
        self.tx: _Tx | None = None
        self.requests: dict[int, _Request] = {}
        self.assemblies: dict[tuple[int, str, int], _Assembly] = {}
        self._next_tx = first_tx
        self._fetch_after = 0.0
        self._answered: dict[tuple[int, str], CfgStaged] = {}
        self._fetching: tuple[int, str] | None = None
        self._unusable: set[tuple[int, str]] = set()
        self._effects: list[ConfigEffect] = []

    # --------------------------------------------------------------------------------------- inputs

    def on_view(self, now: float, members: frozenset[int], coordinator: int, quorate: bool) -> None:
        """A new view, or quorum changed: a push whose participants changed cannot commit."""
        changed = members != self.members or coordinator != self.coordinator
        self.members, self.coordinator, self.quorate = members, coordinator, quorate
        tx = self.tx
        if tx is not None and (not quorate or coordinator != self.local_id or not tx.members <= members):
            lost = sorted(tx.members - members)
            why = (
                "the cluster lost quorum during the push"
                if not quorate
                else f"{self._names(lost)} left the view during the push"
                if lost
                else "this node is no longer the coordinator"
            )
            self._abort(now, f"{why}; nothing changed")
        for request in list(self.requests.values()) if changed else ():
            if request.received and request.coordinator and request.coordinator not in members:
                left = f"the coordinator {self._name(request.coordinator)} left the view before it answered"
                self._finish(request.req, False, f"{left}; this node runs version {self.version}")
            elif not quorate:
                self._finish(request.req, False, NOT_QUORATE)
            elif not request.received:  # not yet with any coordinator: send it to the new one
                request.coordinator, request.last_send = coordinator, -1.0
        self._pump(now)

    def on_heartbeat(self, now: float, sender: int, version: int, digest: str, *, member: bool, quorate: bool) -> None:
        """What a peer runs, as its heartbeat says: the catch-up rules of the module docstring."""
        if (version, digest) == (self.version, short(self.digest)) or version == 0:
            return
        staged = self.staged
        i_am_member = self.local_id in self.members and self.quorate
        if (
            i_am_member
            and member
            and staged is not None
            and (version, digest) == (staged.version, short(staged.digest))
        ):
            self._log(f"{self._name(sender)} runs configuration version {version}, staged here: activating it")
            self._activate_staged(f"as {self._name(sender)} did")
            return
        wanted = (version, digest)
        if not i_am_member and quorate and version > self.version and now >= self._fetch_after:
            if wanted in self._unusable:
                return
            self._fetch_after = now + FETCH_RETRY
            if wanted != self._fetching:
                self._fetching = wanted
                self._log(
                    f"the cluster runs configuration version {version}, this node {self.version}: "
                    f"fetching it from {self._name(sender)}"
                )
            self._send((sender,), CfgFetch(version, digest))

    def heard(self, now: float, sender: int, heartbeat: Heartbeat, members: frozenset[int]) -> None:
        """`on_heartbeat` from a decoded heartbeat and this node's current view."""
        self.on_heartbeat(
            now,
            sender,
            heartbeat.config_version,
            heartbeat.config_digest,
            member=sender in members,
            quorate=bool(heartbeat.flags & FLAG_QUORATE),
        )

    def push(self, now: float, req: int, data: bytes, version: int) -> None:
        """An administrator's push typed on this node (already validated here by the shell)."""
        if not self.quorate or self.local_id not in self.members:
            self._effects.append(PushDone(req, False, NOT_QUORATE))
            return
        if version <= self.version:
            self._effects.append(PushDone(req, False, not_greater(self.version, version)))
            return
        if len(data) > MAX_FILE_BYTES:
            self._effects.append(PushDone(req, False, f"the file is larger than {MAX_FILE_BYTES} bytes"))
            return
        request = _Request(req, version, digest_of(data), data, now + self.timeout + 2 * RESEND, self.coordinator)
        if self.coordinator == self.local_id:
            request.received = True
            self.requests[req] = request
            self._begin(now, self.local_id, req, version, request.digest, data)
        else:
            self.requests[req] = request
        self._pump(now)

    def staged_result(self, now: float, tx: int, digest: str, ok: bool, error: str) -> None:
        """The shell validated and wrote (or refused) the file of a `Stage` effect."""
        if not ok and self.staged is not None and self.staged.of(tx, digest):
            self.staged = None
        answer = CfgStaged(tx, digest, ok, error)
        self._answered[(tx, digest)] = answer
        while len(self._answered) > 4:
            del self._answered[next(iter(self._answered))]
        if self.tx is not None and self.tx.tx == tx:
            self._on_staged(now, self.local_id, answer)
        elif self.coordinator and self.coordinator != self.local_id:
            self._send((self.coordinator,), answer)

    def adopt_refused(self, version: int, digest: str, error: str) -> None:
        """The shell found a fetched file unusable here: stop asking for it, say why, and stay out."""
        self._unusable.add((version, short(digest)))
        self._log(
            f"configuration version {version} run by the cluster is not valid on this node: {error}; "
            "this node stays out of the cluster until it is fixed",
            "error",
        )

    def activated(self, version: int, data: bytes) -> None:
        """The shell now runs ``data`` (after `Activate`, or a reload it did on its own)."""
        self.version, self.data, self.digest = version, data, digest_of(data)
        if self.staged is not None and self.staged.version <= version:
            self.staged = None

    def receive(self, now: float, sender: int, message: ConfigMessage) -> None:
        if isinstance(message, CfgChunk):
            self._on_chunk(now, sender, message)
        elif isinstance(message, CfgStaged):
            self._on_staged(now, sender, message)
        elif isinstance(message, CfgCommit):
            self._on_commit(now, sender, message)
        elif isinstance(message, CfgAbort):
            staged = self.staged
            if staged is not None and staged.tx == message.tx and sender == self.coordinator:
                self.staged = None
                self._effects.append(Discard(message.tx, message.reason))
        elif isinstance(message, CfgResult):
            self._on_result(sender, message)
        elif isinstance(message, CfgFetch):
            if message.version == self.version and self.quorate and self.local_id in self.members:
                for chunk in chunks(PURPOSE_FETCH, 0, self.version, self.digest, self.data):
                    self._send((sender,), chunk)
        self._pump(now)

    def tick(self, now: float) -> None:
        self._pump(now)

    def next_deadline(self) -> float | None:
        times: list[float] = []
        if self.tx is not None:
            times += [self.tx.deadline, self.tx.last_send + RESEND]
        for request in self.requests.values():
            times.append(request.deadline)
            if not request.received:
                times.append(request.last_send + RESEND)
        if self.staged is not None:
            times.append(self.staged.since + STAGED_TTL)
        times += [a.started + ASSEMBLY_TTL for a in self.assemblies.values()]
        return min(times) if times else None

    def take_effects(self) -> list[ConfigEffect]:
        effects, self._effects = self._effects, []
        return effects

    def status(self) -> dict[str, object]:
        return {
            "version": self.version,
            "digest": self.digest,
            "staged": None if self.staged is None else {"version": self.staged.version, "digest": self.staged.digest},
            "push": None
            if self.tx is None
            else {
                "version": self.tx.version,
                "waiting_for": self._names(sorted(self.tx.members - self.tx.staged)),
            },
        }

    # ------------------------------------------------------------------------------------ coordinator

    def _begin(self, now: float, origin: int, req: int, version: int, digest: str, data: bytes) -> None:
        if self.tx is not None:
            self._answer(origin, req, False, f"another push (version {self.tx.version}) is in progress; try again")
            return
        if version <= self.version:
            self._answer(origin, req, False, not_greater(self.version, version))
            return
        self._next_tx += 1
        tx = ((self._next_tx & 0xFFFFFFFFFFFF) << 8) | (self.local_id & 0xFF)
        self.tx = _Tx(tx, origin, req, version, digest, data, self.members, now + self.timeout)
        self._log(f"distributing configuration version {version} to {self._names(sorted(self.members))}")
        if origin != self.local_id:
            self._send((origin,), CfgResult(req, False, True, "received by the coordinator"))
        self.staged = _Staged(tx, version, digest, data, now)
        self._effects.append(Stage(tx, version, digest, data))

    def _on_staged(self, now: float, sender: int, message: CfgStaged) -> None:
        tx = self.tx
        if tx is None or (tx.tx, tx.digest) != (message.tx, message.digest) or sender not in tx.members:
            return
        if not message.ok:
            self._abort(now, f"{self._name(sender)} refused version {tx.version}: {message.error}")
            return
        tx.staged.add(sender)
        if tx.staged >= tx.members:
            self.tx = None
            others = tuple(sorted(tx.members - {self.local_id}))
            if others:
                self._effects.append(Send(others, CfgCommit(tx.tx, tx.version, tx.digest)))
            self.staged = None
            text = f"Config file updated from version {self.version} to {tx.version}"
            self._effects.append(Activate(tx.version, tx.digest, tx.data, "every member staged it"))
            self._answer(tx.origin, tx.req, True, text)

    def _abort(self, now: float, reason: str) -> None:
        tx = self.tx
        if tx is None:
            return
        self.tx = None
        self._log(f"configuration version {tx.version} not activated: {reason}", "warning")
        others = tuple(sorted((tx.members | self.members) - {self.local_id}))
        if others:
            self._effects.append(Send(others, CfgAbort(tx.tx, reason)))
        if self.staged is not None and self.staged.tx == tx.tx:
            self.staged = None
            self._effects.append(Discard(tx.tx, reason))
        self._answer(tx.origin, tx.req, False, reason)

    def _answer(self, origin: int, req: int, ok: bool, text: str) -> None:
        if origin == self.local_id:
            self._finish(req, ok, text)
        else:
            self._send((origin,), CfgResult(req, True, ok, text))

    # ------------------------------------------------------------------------------------ members

    def _on_chunk(self, now: float, sender: int, chunk: CfgChunk) -> None:
        if chunk.total * CHUNK_BYTES > MAX_FILE_BYTES + CHUNK_BYTES or not 0 <= chunk.index < chunk.total:
            return
        if chunk.purpose == PURPOSE_STAGE:
            if sender != self.coordinator or not self.quorate:
                return
            answered = self._answered.get((chunk.tx, chunk.digest))
            if answered is not None:  # our answer was lost: the coordinator repeats its chunks
                self._send((sender,), answered)
                return
            if self.staged is not None and self.staged.of(chunk.tx, chunk.digest):
                return  # being validated by the shell right now
        elif chunk.purpose == PURPOSE_PUSH:
            if self.coordinator != self.local_id or not self.quorate or sender not in self.members:
                return
            if self.tx is not None and self.tx.origin == sender and self.tx.req == chunk.tx:
                self._send((sender,), CfgResult(chunk.tx, False, True, "received by the coordinator"))
                return
        elif chunk.purpose == PURPOSE_FETCH:
            if chunk.version <= self.version:
                return
        else:
            return
        key = (sender, chunk.purpose, chunk.tx)
        assembly = self.assemblies.get(key)
        if assembly is None or (assembly.version, assembly.digest, assembly.total) != (
            chunk.version,
            chunk.digest,
            chunk.total,
        ):
            if len(self.assemblies) >= 8:
                return  # bounded: a flood of half files cannot grow memory
            assembly = self.assemblies[key] = _Assembly(chunk.version, chunk.digest, chunk.total, now)
        data = assembly.add(chunk)
        if data is None:
            return
        del self.assemblies[key]
        if not data:
            self._log(f"configuration from {self._name(sender)} does not match its SHA-256: dropped", "warning")
            return
        if chunk.purpose == PURPOSE_STAGE:
            self.staged = _Staged(chunk.tx, chunk.version, chunk.digest, data, now)
            self._effects.append(Stage(chunk.tx, chunk.version, chunk.digest, data))
        elif chunk.purpose == PURPOSE_PUSH:
            self._begin(now, sender, chunk.tx, chunk.version, chunk.digest, data)
        else:
            self._effects.append(Adopt(chunk.version, chunk.digest, data, sender))

    def _activate_staged(self, why: str) -> None:
        staged, self.staged = self.staged, None
        assert staged is not None
        self._effects.append(Activate(staged.version, staged.digest, staged.data, why))

    def _on_commit(self, now: float, sender: int, message: CfgCommit) -> None:
        staged = self.staged
        if staged is not None and staged.of(message.tx, message.digest) and sender == self.coordinator:
            self._activate_staged(f"committed by {self._name(sender)}")
        elif message.version > self.version:
            self._send((sender,), CfgFetch(message.version, short(message.digest)))

    # ---------------------------------------------------------------------------------- requester

    def _on_result(self, sender: int, message: CfgResult) -> None:
        request = self.requests.get(message.req)
        if request is None:
            return
        if not message.done:
            request.received = True
            request.coordinator = sender
            return
        self._finish(message.req, message.ok, message.text)

    def _finish(self, req: int, ok: bool, text: str) -> None:
        if self.requests.pop(req, None) is not None:
            self._effects.append(PushDone(req, ok, text))

    # --------------------------------------------------------------------------------------- timers

    def _pump(self, now: float) -> None:
        tx = self.tx
        if tx is not None:
            if now >= tx.deadline:
                silent = sorted(tx.members - tx.staged)
                self._abort(now, f"{self._names(silent)} did not answer within {self.timeout:g} s; nothing changed")
            elif now >= tx.last_send + RESEND:
                tx.last_send = now
                waiting = tuple(sorted(tx.members - tx.staged - {self.local_id}))
                if waiting:
                    for chunk in chunks(PURPOSE_STAGE, tx.tx, tx.version, tx.digest, tx.data):
                        self._effects.append(Send(waiting, chunk))
        for request in list(self.requests.values()):
            if now >= request.deadline:
                late = f"no answer from the coordinator in time; this node runs version {self.version}"
                self._finish(request.req, False, late)
            elif not request.received and now >= request.last_send + RESEND and request.coordinator:
                request.last_send = now
                for chunk in chunks(PURPOSE_PUSH, request.req, request.version, request.digest, request.data):
                    self._send((request.coordinator,), chunk)
        staged = self.staged
        if staged is not None and now >= staged.since + STAGED_TTL and (self.tx is None or self.tx.tx != staged.tx):
            self.staged = None
            self._effects.append(Discard(staged.tx, "never committed"))
        for key, assembly in list(self.assemblies.items()):
            if now >= assembly.started + ASSEMBLY_TTL:
                del self.assemblies[key]

    # ---------------------------------------------------------------------------------------- utils

    def _send(self, to: tuple[int, ...], message: ConfigMessage) -> None:
        self._effects.append(Send(to, message))

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))

    def _name(self, nodeid: int) -> str:
        return self.names.get(nodeid, f"node {nodeid}")

    def _names(self, ids: Iterable[int]) -> str:
        return ", ".join(self._name(i) for i in ids) or "nobody"
