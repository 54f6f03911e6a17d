"""Rotating the cluster key without downtime: a small pure state machine, one per node.

Theory of operation
-------------------
Every datagram is sealed with a subkey of the cluster key, so a new key can only take over if nobody ever
sends with a key that a member of the view cannot open. The rotation therefore goes in three confirmed steps,
each of which keeps that true:

1. **staged**: the node where ``quorate key rotate`` runs (the *driver*) sends the new key to every member,
   sealed with the current key. Each member writes it next to its key file and from then on *accepts* both
   keys; it confirms ``staged``.
2. **sending**: once every member of the current view confirmed ``staged``, the driver says *switch*: each
   member seals with the new key (the others accept it already) and confirms ``sending``.
3. **installed**: once every member confirmed ``sending``, the driver says *finish*: each member replaces its
   key file with the new key and confirms ``installed``. It keeps accepting the old key for a short linger
   (datagrams sealed just before a peer switched may still be in flight), then keeps it only as the *retired*
   key: for the grace period it opens nothing with it but a key fetch from a node that was down during the
   rotation, which it answers with the new key (sealed with the retired key, the only one the asker holds).

"Every member" always means the members of the view as it is now: a member that leaves is no longer waited
for (it fetches the key when it is back), and a node that joins gets the offer like the others. Messages are
repeated every `RETRY` seconds until confirmed, so a lost datagram only delays a step.

The driver is the node that started the rotation while it is a member; when it leaves, the lowest node id of
the view takes over, and every member that holds the rotation forwards the offer to it (with whether it
already sends with the new key), so the new driver can go on even if the offer never reached it. Before any
member sends with the new key the driver may still abort (a member could not write the key, or did not
confirm within `STAGE_TIMEOUT`): the staged copies are removed and the old key stays. Once a member may be
sending with the new key the rotation only goes forward, which is safe because every member accepts both keys
until the finish.

The grace period is bounded twice: by its length (24 h by default, chosen at ``rotate``; 0 disables fetching)
and by the life of the daemon (the retired key is kept in memory only, never written). Within it, the retired
key opens key fetches and nothing else, so a copy of the old key is worth no more than it was the moment before
the rotation; after it, a node that missed the rotation needs the key file copied by an administrator.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DiscardKey",
    "FetchDone",
    "InstallKey",
    "KeyRotation",
    "KeyWritten",
    "Phase",
    "SendRetired",
    "StageKey",
    "UseKeys",
]

from quorate.core.effects import Log, Send
from quorate.core.key_rotation_effects import (
    DiscardKey,
    FetchDone,
    InstallKey,
    KeyEffect,
    KeyWritten,
    SendRetired,
    StageKey,
    UseKeys,
)
from quorate.core.messages import KeyAbort, KeyAck, KeyFetch, KeyGo, KeyGrant, KeyOffer, KeyStep, RotationId

RETRY = 1.0
STAGE_TIMEOUT = 30.0
LINGER = 5.0
DEFAULT_GRACE = 24 * 3600
MIN_KEY_BYTES = 32
FETCH_TIMEOUT = 8.0  # within the command line's 10 s wait for an answer


class Phase(enum.Enum):
    IDLE = "idle"
    STAGING = "staging"  # the new key is offered or staged; everyone still sends with the old key
    SWITCHING = "switching"  # this node sends with the new key and accepts both
    DONE = "done"  # the key file holds the new key
    ABORTED = "aborted"


@dataclass
class _Rotation:
    """One rotation as this node knows it; the confirmation sets matter on the driver only."""

    rid: RotationId
    key: bytes
    old: bytes
    grace: int
    phase: Phase = Phase.STAGING
    started: float = 0.0
    staged_here: bool = False
    confirmed: dict[KeyStep, set[int]] = field(
        default_factory=lambda: {KeyStep.STAGED: set(), KeyStep.SENDING: set(), KeyStep.INSTALLED: set()}
    )
    someone_sends: bool = False
    next_retry: float = 0.0
    abort_reason: str = ""


class KeyRotation:
    """This node's part in key rotations: as a member, and as the driver when it started one or took over."""

    def __init__(self, local_id: int, key: bytes, names: Mapping[int, str]) -> None:
        self.local_id = local_id
        self.key = key
        self.names = dict(names)
        self.members: frozenset[int] = frozenset({local_id})
        self.view_seq = 0
        self.quorate = False
        self.current: _Rotation | None = None
        self.last: RotationId | None = None  # the newest rotation finished or aborted here
        self.last_outcome = ""
        self.retired: bytes | None = None
        self.retired_until = 0.0
        self._linger_until: float | None = None
        self._fetch: tuple[int, float] | None = None  # (nonce, deadline) of this node's pending key fetch
        self._effects: list[KeyEffect] = []

    # ----------------------------------------------------------------------------------------- inputs

    def rotate(self, now: float, key: bytes, grace: int, *, quorate: bool, refusal: str | None) -> str | None:
        """Start a rotation from this node; returns why it is refused, or None. ``refusal`` is the feature
        check's sentence (a member that cannot take part)."""
        if len(key) < MIN_KEY_BYTES:
            return f"the new key is too short ({len(key)} bytes, at least {MIN_KEY_BYTES})"
        if not quorate:
            return "this node is not in a quorate view: rotate the key from a node of the quorate partition"
        if refusal is not None:
            return refusal
        if self.current is not None and self.current.phase in (Phase.STAGING, Phase.SWITCHING):
            return (
                f"a key rotation is already in progress ({self.current.phase.value}, driven by "
                f"{self._name(self._driver(self.current))}): wait for it to finish"
            )
        seq = max(self.view_seq, (self.last.seq + 1) if self.last is not None else 0)
        rid = RotationId(seq, self.local_id)
        self._adopt(now, rid, key, grace)
        self._log(f"key rotation {rid.seq}: offering a new cluster key to {self._names(self.members)}")
        self._drive(now)
        return None

    def on_view(self, now: float, seq: int, members: frozenset[int], *, quorate: bool) -> None:
        """A view was installed (or quorum changed): drivers only act in a quorate view, so that a node cut off
        alone never finishes a rotation the others gave up."""
        old_driver = self._driver(self.current) if self.current is not None else None
        joined = members - self.members
        self.view_seq, self.members, self.quorate = seq, members, quorate
        rot = self.current
        if rot is None or rot.phase not in (Phase.STAGING, Phase.SWITCHING):
            self._drive(now)
            return
        for confirmed in rot.confirmed.values():  # a node back in the view may be a new run: it confirms again
            confirmed -= joined
        if rot.phase is Phase.SWITCHING and members == {self.local_id} and not quorate:
            # Alone and sending with a key that the nodes which restarted meanwhile may not have: back to the
            # old key (still accepting both), so that they hear this node, and the rotation resumes with them.
            rot.phase = Phase.STAGING
            self._effects.append(UseKeys(rot.old, (rot.old, rot.key), self.retired))
            self._log(
                f"key rotation {rot.rid.seq}: alone in the view: sending with the old key until the others are back"
            )
        driver = self._driver(rot)
        if driver != self.local_id and rot.staged_here:
            offer = KeyOffer(rot.rid, rot.key, rot.grace, sending=rot.phase is Phase.SWITCHING)
            self._effects.append(Send((driver,), offer))
        if driver == self.local_id and old_driver != self.local_id:
            self._log(f"key rotation {rot.rid.seq}: its driver left the view; this node takes over", "warning")
            rot.next_retry = now
        self._drive(now)

    def receive(self, now: float, sender: int, message: object) -> None:
        if isinstance(message, KeyOffer):
            self._offer(now, sender, message)
        elif isinstance(message, KeyAck):
            self._ack(now, sender, message)
        elif isinstance(message, KeyGo):
            self._go(now, sender, message)
        elif isinstance(message, KeyAbort):
            self._abort_received(now, sender, message)
        elif isinstance(message, KeyGrant):
            self._granted(now, sender, message)
        elif isinstance(message, KeyFetch) and sender not in self.members:
            # During the linger the old key still opens cluster traffic, so a fetch arrives here, not as retired.
            self.fetch_request(now, sender, message)
        self._drive(now)

    def fetch_request(self, now: float, sender: int, message: object) -> None:
        """A datagram opened with the retired key: only a key fetch is answered, within the grace period."""
        if not isinstance(message, KeyFetch):
            return
        if self.retired is None or now >= self.retired_until or self.last is None:
            return
        self._log(f"{self._name(sender)} missed key rotation {self.last.seq}: sending it the new key")
        self._effects.append(SendRetired((sender,), KeyGrant(message.nonce, self.last, self.key)))

    def fetch(self, now: float, nonce: int, peers: Iterable[int]) -> None:
        """``quorate key fetch`` on this node: ask every configured peer for the key (`FetchDone` answers)."""
        self._fetch = (nonce, now + FETCH_TIMEOUT)
        to = tuple(sorted(set(peers) - {self.local_id}))
        self._effects.append(Send(to, KeyFetch(nonce)))

    def written(self, now: float, report: KeyWritten) -> None:
        rot = self.current
        if rot is None or rot.rid != report.rotation:
            return
        driver = self._driver(rot)
        if report.step is KeyStep.STAGED:
            if not report.ok:
                self._log(f"key rotation {rot.rid.seq}: cannot stage the new key: {report.error}", "error")
            rot.staged_here = report.ok
            self._confirm(now, driver, KeyAck(rot.rid, KeyStep.STAGED, report.ok, report.error))
        elif report.step is KeyStep.INSTALLED:
            if not report.ok:
                self._log(f"key rotation {rot.rid.seq}: cannot replace the key file: {report.error}", "error")
            self._confirm(now, driver, KeyAck(rot.rid, KeyStep.INSTALLED, report.ok, report.error))
        self._drive(now)

    def tick(self, now: float) -> None:
        if self._linger_until is not None and now >= self._linger_until:
            self._linger_until = None
            self._effects.append(UseKeys(self.key, (self.key,), self.retired))
        if self.retired is not None and now >= self.retired_until:
            self.retired = None
            self._effects.append(UseKeys(self.key, (self.key,), None))
            self._log("the retired cluster key's grace period ended: it is forgotten")
        if self._fetch is not None and now >= self._fetch[1]:
            nonce, _ = self._fetch
            self._fetch = None
            text = ("no member answered the key fetch (their grace period may be over, or this node's key is not "
                    "the previous one): copy the key file from a member")  # fmt: skip
            self._effects.append(FetchDone(nonce, False, text))
        self._drive(now)

    # ---------------------------------------------------------------------------------------- outputs

    def take_effects(self) -> list[KeyEffect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        times = [self._linger_until, self._fetch[1] if self._fetch else None]
        if self.retired is not None:
            times.append(self.retired_until)
        rot = self.current
        if rot is not None and self.quorate and self._driver(rot) == self.local_id and self._driving(rot):
            times.append(rot.next_retry)
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def status(self, now: float) -> dict[str, object]:
        rot = self.current
        doc: dict[str, object] = {"phase": rot.phase.value if rot else Phase.IDLE.value}
        if rot is not None:
            doc["rotation"] = rot.rid.seq
            doc["started_by"] = self._name(rot.rid.by)
            doc["driver"] = self._name(self._driver(rot))
            nodes = {}
            for nodeid in sorted(self.members | rot.confirmed[KeyStep.STAGED]):
                nodes[self._name(nodeid)] = self._step_of(rot, nodeid)
            doc["nodes"] = nodes
        doc["last"] = self.last_outcome
        doc["retired_key_for"] = max(0, int(self.retired_until - now)) if self.retired is not None else 0
        return doc

    # ------------------------------------------------------------------------------------- the member

    def _adopt(self, now: float, rid: RotationId, key: bytes, grace: int) -> _Rotation:
        rot = _Rotation(rid, key, self.key, grace, started=now, next_retry=now)
        self.current = rot
        self._effects.append(StageKey(rid, key))
        self._effects.append(UseKeys(self.key, (self.key, key), self.retired))
        return rot

    def _offer(self, now: float, sender: int, offer: KeyOffer) -> None:
        if sender not in self.members or len(offer.key) < MIN_KEY_BYTES:
            return
        rot = self.current
        if self.last is not None and offer.rotation <= self.last:
            if rot is not None and rot.rid == offer.rotation and rot.phase is Phase.DONE:
                self._effects.append(Send((sender,), KeyAck(rot.rid, KeyStep.INSTALLED)))
            elif rot is not None and rot.rid == offer.rotation and rot.phase is Phase.ABORTED:
                self._effects.append(Send((sender,), KeyAbort(rot.rid, rot.abort_reason)))
            return
        if rot is not None and rot.rid == offer.rotation:
            if self._driver(rot) == self.local_id:  # a member forwards what it holds to its new driver
                self._forwarded(rot, sender, offer)
            elif sender == self._driver(rot) and rot.staged_here:  # the driver repeats: our ack was lost
                self._effects.append(Send((sender,), KeyAck(rot.rid, KeyStep.STAGED)))
                if rot.phase is Phase.SWITCHING:
                    self._effects.append(Send((sender,), KeyAck(rot.rid, KeyStep.SENDING)))
            return
        fresh = rot is None or rot.phase in (Phase.DONE, Phase.ABORTED)
        if not fresh and not (rot is not None and rot.phase is Phase.STAGING and offer.rotation > rot.rid
                              and not rot.someone_sends):  # fmt: skip
            return
        if rot is not None and rot.phase is Phase.STAGING:
            self._effects.append(DiscardKey(rot.rid))
        rot = self._adopt(now, offer.rotation, offer.key, offer.grace)
        self._log(f"key rotation {rot.rid.seq}: new cluster key received from {self._name(sender)}")
        if self._driver(rot) == self.local_id:
            self._forwarded(rot, sender, offer)

    def _forwarded(self, rot: _Rotation, sender: int, offer: KeyOffer) -> None:
        """A member holds the rotation staged (and perhaps sends with it) and tells its new driver so."""
        rot.confirmed[KeyStep.STAGED].add(sender)
        if offer.sending:
            rot.someone_sends = True
            rot.confirmed[KeyStep.SENDING].add(sender)

    def _go(self, now: float, sender: int, go: KeyGo) -> None:
        rot = self.current
        if rot is None or rot.rid != go.rotation or sender != self._driver(rot) or not rot.staged_here:
            return
        if go.step is KeyStep.SWITCH and rot.phase in (Phase.STAGING, Phase.SWITCHING):
            self._switch(rot)
            self._effects.append(Send((sender,), KeyAck(rot.rid, KeyStep.SENDING)))
        elif go.step is KeyStep.FINISH and rot.phase is Phase.SWITCHING:
            self._finish(now, rot)
        elif rot.phase is Phase.DONE:  # a repeat, or a driver that took over late: we are past both steps
            self._effects.append(Send((sender,), KeyAck(rot.rid, KeyStep.INSTALLED)))

    def _switch(self, rot: _Rotation) -> None:
        if rot.phase is not Phase.SWITCHING:
            rot.phase = Phase.SWITCHING
            rot.someone_sends = True
            self._effects.append(UseKeys(rot.key, (rot.key, rot.old), self.retired))
            self._log(f"key rotation {rot.rid.seq}: sending with the new cluster key")

    def _finish(self, now: float, rot: _Rotation) -> None:
        rot.phase = Phase.DONE
        self.key = rot.key
        self.last = rot.rid
        self.retired = rot.old if rot.grace > 0 else None
        self.retired_until = now + LINGER + rot.grace
        self._linger_until = now + LINGER
        self.last_outcome = f"rotation {rot.rid.seq} completed"
        self._effects.append(UseKeys(rot.key, (rot.key, rot.old), self.retired))  # fetches are answered at once
        self._effects.append(InstallKey(rot.rid, rot.key))
        self._log(f"key rotation {rot.rid.seq}: the new cluster key is installed; the old one is retired")

    def _abort_received(self, now: float, sender: int, abort: KeyAbort) -> None:
        rot = self.current
        if rot is None or rot.rid != abort.rotation or sender != self._driver(rot) or rot.phase is not Phase.STAGING:
            return
        self._abort(rot, abort.reason)

    def _abort(self, rot: _Rotation, reason: str) -> None:
        rot.phase = Phase.ABORTED
        rot.abort_reason = reason
        self.last = rot.rid if self.last is None or rot.rid > self.last else self.last
        self.last_outcome = f"rotation {rot.rid.seq} aborted: {reason}"
        self._effects.append(DiscardKey(rot.rid))
        self._effects.append(UseKeys(self.key, (self.key,), self.retired))
        self._log(f"key rotation {rot.rid.seq} aborted, the cluster key is unchanged: {reason}", "warning")

    def _granted(self, now: float, sender: int, grant: KeyGrant) -> None:
        if self._fetch is None or grant.nonce != self._fetch[0] or len(grant.key) < MIN_KEY_BYTES:
            return
        nonce, _ = self._fetch
        self._fetch = None
        old = self.key
        self.key = grant.key
        self.last = grant.rotation
        self.last_outcome = f"key of rotation {grant.rotation.seq} fetched from {self._name(sender)}"
        self.current = _Rotation(grant.rotation, grant.key, old, 0, phase=Phase.DONE, started=now)
        self._effects.append(InstallKey(grant.rotation, grant.key))
        self._effects.append(UseKeys(grant.key, (grant.key,), None))
        text = f"fetched the cluster key of rotation {grant.rotation.seq} from {self._name(sender)}; installed"
        self._log(text)
        self._effects.append(FetchDone(nonce, True, text))

    def _confirm(self, now: float, driver: int, ack: KeyAck) -> None:
        if driver == self.local_id:
            self._ack(now, self.local_id, ack)
        else:
            self._effects.append(Send((driver,), ack))

    # ------------------------------------------------------------------------------------- the driver

    def _driver(self, rot: _Rotation) -> int:
        if rot.rid.by in self.members or not self.members:
            return rot.rid.by
        return min(self.members)

    def _driving(self, rot: _Rotation) -> bool:
        """Whether a driver still has something to do for ``rot``."""
        if rot.phase in (Phase.STAGING, Phase.SWITCHING):
            return True
        return rot.phase is Phase.DONE and not self.members <= rot.confirmed[KeyStep.INSTALLED]

    def _ack(self, now: float, sender: int, ack: KeyAck) -> None:
        rot = self.current
        if rot is None or rot.rid != ack.rotation or self._driver(rot) != self.local_id:
            return
        if not ack.ok:
            if rot.phase is Phase.STAGING and not rot.someone_sends:
                self._abort_all(rot, f"{self._name(sender)} could not write the new key: {ack.detail}")
            else:
                self._log(f"key rotation {rot.rid.seq}: {self._name(sender)}: {ack.detail}", "error")
            return
        complete = rot.phase is Phase.DONE and self.members <= rot.confirmed[KeyStep.INSTALLED]
        rot.confirmed[ack.step].add(sender)
        if ack.step is KeyStep.SENDING:
            rot.someone_sends = True
            rot.confirmed[KeyStep.STAGED].add(sender)
        if ack.step is KeyStep.INSTALLED:
            rot.confirmed[KeyStep.STAGED].add(sender)
            rot.confirmed[KeyStep.SENDING].add(sender)
            if not complete and self.members <= rot.confirmed[KeyStep.INSTALLED]:
                self._log(f"key rotation {rot.rid.seq}: every member installed the new key")

    def _abort_all(self, rot: _Rotation, reason: str) -> None:
        others = tuple(sorted(self.members - {self.local_id}))
        if others:
            self._effects.append(Send(others, KeyAbort(rot.rid, reason)))
        self._abort(rot, reason)

    def _drive(self, now: float) -> None:
        rot = self.current
        if rot is None or not self.quorate or self._driver(rot) != self.local_id or not self._driving(rot):
            return
        staged = rot.confirmed[KeyStep.STAGED]
        sending = rot.confirmed[KeyStep.SENDING]
        installed = rot.confirmed[KeyStep.INSTALLED]
        if rot.staged_here:  # a driver that took over confirmed its own steps to the previous driver only
            staged.add(self.local_id)
        if rot.phase in (Phase.SWITCHING, Phase.DONE) and rot.staged_here:
            sending.add(self.local_id)
        if rot.phase is Phase.STAGING and self.members <= staged and rot.staged_here:
            self._switch(rot)
            sending.add(self.local_id)
            self._send_all(now, rot, KeyGo(rot.rid, KeyStep.SWITCH), self.members - {self.local_id})
        elif rot.phase is Phase.STAGING and now >= rot.started + STAGE_TIMEOUT and not rot.someone_sends:
            lacking = self._names(self.members - staged)
            self._abort_all(rot, f"{lacking} did not confirm the new key within {STAGE_TIMEOUT:.0f} s")
            return
        if rot.phase is Phase.SWITCHING and self.members <= sending:
            self._finish(now, rot)
            self._send_all(now, rot, KeyGo(rot.rid, KeyStep.FINISH), self.members - {self.local_id})
            return
        if now < rot.next_retry:
            return
        rot.next_retry = now + RETRY
        for nodeid in sorted(self.members - {self.local_id}):
            if nodeid not in staged:
                self._effects.append(Send((nodeid,), KeyOffer(rot.rid, rot.key, rot.grace, rot.someone_sends)))
            elif rot.phase in (Phase.SWITCHING, Phase.DONE) and nodeid not in sending:
                self._effects.append(Send((nodeid,), KeyGo(rot.rid, KeyStep.SWITCH)))
            elif rot.phase is Phase.DONE and nodeid not in installed:
                self._effects.append(Send((nodeid,), KeyGo(rot.rid, KeyStep.FINISH)))

    def _send_all(self, now: float, rot: _Rotation, message: KeyGo, to: Iterable[int]) -> None:
        targets = tuple(sorted(to))
        if targets:
            self._effects.append(Send(targets, message))
        rot.next_retry = now + RETRY  # then repeated to whoever has not confirmed yet

    # ------------------------------------------------------------------------------------------ words

    def _step_of(self, rot: _Rotation, nodeid: int) -> str:
        if nodeid == self.local_id:
            here = {Phase.STAGING: "staged" if rot.staged_here else "staging", Phase.SWITCHING: "sending",
                    Phase.DONE: "installed", Phase.ABORTED: "aborted"}  # fmt: skip
            return str(here.get(rot.phase, rot.phase.value))
        if self._driver(rot) != self.local_id:
            return "unknown here (see the driver)"
        for step in (KeyStep.INSTALLED, KeyStep.SENDING, KeyStep.STAGED):
            if nodeid in rot.confirmed[step]:
                return str(step.value)
        return "waiting"

    def _name(self, nodeid: int) -> str:
        return self.names.get(nodeid, f"node {nodeid}")

    def _names(self, ids: Iterable[int]) -> str:
        return ", ".join(self._name(n) for n in sorted(ids)) or "nobody"

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))
