"""A rig for the membership tests: one real `Membership` core on an explicit clock, its peers played by hand.

No sockets and no simulator: a test says what each peer sends and when, and reads back what the core sent,
logged, reported and decided (also after a command called on `core` directly). Peers heartbeat with the fields
a real node would send; `talk` keeps them talking while time passes, and `answer` plays the members' side of
the core's proposals.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from quorate.core.effects import Effect, Log, Send, ViewInstalled
from quorate.core.membership import Membership, MembershipConfig, NodeSpec
from quorate.core.messages import FLAG_QUORATE, NO_VIEW, Accept, Heartbeat, Message, Propose, ViewId

NAMES = ("balthasar", "casper", "melchior", "adam", "lilith")
TOKEN = 1.0  # heartbeat interval 0.2 s, settle 2 s, round timeout 0.8 s, join hold 0.06 s
DIGEST = "d1"

M = TypeVar("M")


class Rig:
    """The core under test is node `local`; every other configured node is a peer the test speaks for."""

    def __init__(
        self,
        local: int = 1,
        *,
        votes: tuple[int, ...] = (1, 1, 1),
        expected: int | None = None,
        rejoin: tuple[int, frozenset[int]] = (0, frozenset()),
    ) -> None:
        specs = tuple(NodeSpec(i + 1, NAMES[i], v) for i, v in enumerate(votes))
        self.config = MembershipConfig(
            nodes=specs,
            expected_votes=sum(votes) if expected is None else expected,
            token=TOKEN,
            config_version=1,
            config_digest=DIGEST,
        )
        self.local = local
        self.ids = tuple(s.nodeid for s in specs)
        self.now = 0.0
        self.core = Membership(self.config, local, boot=1, now=0.0, rejoin=rejoin)
        self.effects: list[Effect] = []
        self.times: list[float] = []  # when each effect came out
        self.boots = {n: 100 + n for n in self.ids if n != local}
        self.incarnations = {n: 0 for n in self.ids if n != local}
        self._numbers = {n: 0 for n in self.ids if n != local}
        self._answered = 0
        self._collect()

    # ------------------------------------------------------------- time and input

    def at(self, t: float) -> None:
        assert t >= self.now, f"time runs forward: {t} < {self.now}"
        self.now = t
        self.core.tick(t)
        self._collect()

    def receive(self, sender: int, message: Message) -> None:
        self.core.receive(self.now, sender, message)
        self._collect()

    def heartbeat(
        self,
        sender: int,
        *,
        hears: Iterable[int] | None = None,
        view: ViewId = NO_VIEW,
        members: Iterable[int] = (),
        promised: ViewId | None = None,
        expected: int | None = None,
        flags: int = 0,
        stale: tuple[int, ...] = (),
        config_version: int = 1,
        digest: str = DIGEST,
    ) -> None:
        """One heartbeat from `sender`'s current run (see `restart`); by default it hears every node."""
        self._numbers[sender] += 1
        hb = Heartbeat(
            boot=self.boots[sender],
            number=self._numbers[sender],
            incarnation=self.incarnations[sender],
            hears=tuple(sorted(self.ids if hears is None else hears)),
            view=view,
            members=tuple(sorted(members)),
            promised=view if promised is None else promised,
            expected=self.config.expected_votes if expected is None else expected,
            config_version=config_version,
            config_digest=digest,
            flags=flags,
            stale=stale,
        )
        self.receive(sender, hb)

    def restart(self, peer: int) -> None:
        """`peer`'s daemon restarts: its next datagrams come from a new boot."""
        self.boots[peer] += 1000
        self._numbers[peer] = 0

    def talk(self, until: float, peers: Iterable[int], *, step: float = 0.1, answer: bool = True) -> None:
        """Let time pass to `until`; every `step` each of `peers` heartbeats as a member of the core's view (when
        it is one) and, with `answer`, accepts the core's proposals."""
        talking = tuple(peers)
        while self.now < until - 1e-9:
            self.at(min(until, self.now + step))
            for peer in talking:
                if peer in self.core.members:
                    quorate = FLAG_QUORATE if self.core.quorum.quorate else 0
                    self.heartbeat(peer, view=self.core.view, members=self.core.members, flags=quorate)
                else:
                    self.heartbeat(peer)
            if answer:
                self.answer(talking)

    def answer(self, peers: Iterable[int]) -> None:
        """Each of `peers` accepts every proposal the core sent it since the last answer."""
        talking = set(peers)
        pending = self.effects[self._answered :]
        self._answered = len(self.effects)
        for effect in pending:
            if isinstance(effect, Send) and isinstance(effect.message, Propose):
                for to in effect.to:
                    if to in talking:
                        self.receive(to, Accept(effect.message.view, True, effect.message.view))

    # ------------------------------------------------------------- output

    def mark(self) -> int:
        """A position in the effects; `since(mark)` returns what came after it."""
        self._collect()
        return len(self.effects)

    def since(self, mark: int) -> list[Effect]:
        self._collect()
        return self.effects[mark:]

    def sent(self, kind: type[M], *, to: int | None = None, since: int = 0) -> list[M]:
        """Messages of type `kind` the core sent (to node `to`), oldest first."""
        self._collect()
        return [
            e.message
            for e in self.effects[since:]
            if isinstance(e, Send) and isinstance(e.message, kind) and (to is None or to in e.to)
        ]

    def logs(self, since: int = 0) -> list[str]:
        self._collect()
        return [e.text for e in self.effects[since:] if isinstance(e, Log)]

    def of(self, kind: type[M], since: int = 0) -> list[M]:
        """Effects of type `kind`, oldest first."""
        self._collect()
        return [e for e in self.effects[since:] if isinstance(e, kind)]

    def views(self, since: int = 0) -> list[ViewInstalled]:
        return self.of(ViewInstalled, since)

    def heard(self, peer: int) -> bool:
        """Whether the core reports hearing `peer` (what its heartbeats say and `cman_tool nodes` shows)."""
        return self.core.status(self.now).nodes[peer - 1].heard

    def refused(self, peer: int) -> str | None:
        return self.core.status(self.now).nodes[peer - 1].refused

    def when(self, kind: type[M], since: int = 0) -> list[float]:
        """When each Send of a `kind` message (or each effect of type `kind`) came out, oldest first."""
        self._collect()
        return [
            t
            for t, e in zip(self.times[since:], self.effects[since:], strict=True)
            if isinstance(e, kind) or (isinstance(e, Send) and isinstance(e.message, kind))
        ]

    def logged_at(self, text: str) -> float:
        """When the first log line containing `text` came out."""
        self._collect()
        return next(t for t, e in zip(self.times, self.effects, strict=True) if isinstance(e, Log) and text in e.text)

    def _collect(self) -> None:
        new = self.core.take_effects()
        self.effects.extend(new)
        self.times.extend([self.now] * len(new))
