"""The node's quorum-witness service: the client's decisions as effects the node core routes and the shell carries.

Theory of operation
-------------------
`witness_client.WitnessClient` decides; this driver is its service, beside the quorum disk's (`node_disk`): it
encodes each request into a `SendToWitness` datagram (the shell authenticates it and sends it to the witness's
address), decodes the answers the shell hands back (`answer`), and reports every change of the votes this node
counts as a `WitnessVotes`, which the node core feeds to membership exactly like the quorum disk's votes (the
configuration never has both). A view change reaches it before anyone acts on the view (`view_changed`), so a
vote the new view may not keep is withdrawn first.

What this module deliberately does not know: sockets, keys and clocks (the shell's), and what the votes do.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorate.core.effects import Log
from quorate.core.messages import ViewId
from quorate.core.witness_client import Change, WitnessClient
from quorate.core.witness_protocol import MalformedWitnessDatagram, WitnessAnswer, WitnessSettings, decode, encode


@dataclass(frozen=True, slots=True)
class SendToWitness:
    """Send this witness datagram (plaintext; the shell authenticates it) to the configured witness."""

    host: str
    port: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class WitnessVotes:
    """The witness's votes this node now counts in its quorum."""

    votes: int
    reason: str


WitnessEffect = SendToWitness | WitnessVotes | Log


class WitnessDriver:
    def __init__(
        self,
        settings: WitnessSettings,
        *,
        cluster: str,
        cluster_id: int,
        local_id: int,
        node_count: int,
        now: float,
        boot: int,
    ) -> None:
        self.settings = settings
        self.client = WitnessClient(
            settings,
            cluster=cluster,
            cluster_id=cluster_id,
            local_id=local_id,
            node_count=node_count,
            now=now,
            boot=boot,
        )
        self.undecodable = 0
        self.ignored = 0
        self._effects: list[WitnessEffect] = []

    @property
    def votes(self) -> int:
        return self.client.votes

    def view_changed(self, now: float, view: ViewId, members: frozenset[int]) -> None:
        self._change(self.client.view_changed(now, view, members))
        self.tick(now)  # the new view is told at once

    def tick(self, now: float) -> None:
        change, ask = self.client.tick(now)
        self._change(change)
        if ask is not None:
            self._effects.append(SendToWitness(self.settings.host, self.settings.port, encode(ask)))

    def answer(self, now: float, payload: bytes) -> None:
        """An authenticated datagram from the witness's address."""
        try:
            datagram = decode(payload)
        except MalformedWitnessDatagram:
            self.undecodable += 1
            return
        if not isinstance(datagram, WitnessAnswer):
            self.ignored += 1
            return
        self.deliver(now, datagram)

    def deliver(self, now: float, answer: WitnessAnswer) -> None:
        """A decoded answer (the simulators skip the encoding)."""
        self._change(self.client.answer(now, answer))

    def stop(self) -> None:
        """The configuration no longer has a witness: the votes go (the caller recomputes the quorum)."""
        self._change(self.client.drop("the witness was removed from the configuration"))

    def take_effects(self) -> list[WitnessEffect]:
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        return self.client.next_deadline()

    def status(self, now: float) -> dict[str, object]:
        return self.client.status(now)

    def _change(self, change: Change | None) -> None:
        if change is None:
            return
        self._effects.append(WitnessVotes(change.votes, change.reason))
        level = "info" if change.votes else "warning"
        self._effects.append(Log(f"witness: votes {change.votes}: {change.reason}", level))
