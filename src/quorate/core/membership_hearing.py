"""Hearing: which peers this node hears, i.e. failure detection (what totem's token timeout did).

Theory of operation
-------------------
Every datagram from a peer, whatever it says, proves its process is alive: it stamps the peer's last receive
time. A peer is alive while that stamp is younger than the token timeout; once it is older, the peer is lost,
and the loss is logged once, when a peer this node reported as heard goes silent.

Hearing a live peer is not enough to report it as heard (the set each heartbeat carries, from which the views
are planned):

* a peer whose link was lost while both processes lived (it comes back with the same boot) must be heard
  continuously for a settle time (two tokens) first, so that a flapping link cannot make views flap;
* a restarted peer (a new boot) counts at once: its new process claims nothing, so there is nothing to wait for;
* a peer that announced a clean leave of its current run is not reported (it said goodbye);
* a peer the caller holds back (admission: a non-member running another configuration) is not reported.

Hearing only keeps times; it decides nothing about views, votes or admission.
"""

from __future__ import annotations

from collections.abc import Callable

from quorate.core.membership_state import MembershipState
from quorate.core.membership_types import Peer


class Hearing:
    """Receive times, settle times and the set of peers this node reports as heard."""

    def __init__(self, state: MembershipState, *, held_back: Callable[[Peer], bool]) -> None:
        self._state = state
        self._held_back = held_back
        self._reported: frozenset[int] = frozenset()

    @property
    def reported(self) -> frozenset[int]:
        """The peers this node hears, as its heartbeats say (as of the last `refresh`)."""
        return self._reported

    def note_alive(self, now: float, peer: Peer) -> None:
        """Any datagram from `peer` arrived: it lives. A silence longer than the token starts its hearing anew."""
        if peer.last_rx is None or now - peer.last_rx > self._state.config.token or peer.heard_since is None:
            peer.heard_since = now
        peer.last_rx = now

    def restarted(self, now: float, peer: Peer) -> None:
        """`peer` runs a new boot: an earlier lost link no longer asks for a settle time."""
        peer.lost_boot = None
        peer.heard_since = now

    def refresh(self, now: float) -> bool:
        """Recompute the set of peers reported as heard at `now`; True when it changed."""
        token = self._state.config.token
        heard: set[int] = set()
        for nodeid, peer in self._state.peers.items():
            alive = peer.last_rx is not None and now - peer.last_rx <= token
            if not alive:
                if peer.heard_since is not None:
                    peer.heard_since = None
                    peer.lost_boot = peer.boot
                    if nodeid in self._reported:
                        self._state.log(
                            f"lost contact with {peer.spec.name}: silent for more than the {token:g} s token"
                        )
                continue
            if peer.heard_since is None:
                peer.heard_since = now
            if peer.left_stamp is not None and peer.left_stamp >= peer.stamp:
                continue
            if self._held_back(peer):
                continue
            if now < peer.heard_since + self.settle_needed(peer):  # as `deadlines` says it: settled at that time
                continue
            heard.add(nodeid)
        reported = frozenset(heard)
        changed = reported != self._reported
        self._reported = reported
        return changed

    def settle_needed(self, peer: Peer) -> float:
        """How long `peer` must be heard without a break before it counts: a settle time after a lost link of the
        same process, nothing otherwise."""
        return self._state.config.settle if peer.lost_boot is not None and peer.lost_boot == peer.boot else 0.0

    def last_alive(self) -> float | None:
        """The last instant at which every peer heard now still counts as alive (its receive time plus the token):
        until then an evaluation finds no peer silent. Past it (even if already evaluated) it would."""
        token = self._state.config.token
        times = [p.last_rx + token for p in self._state.peers.values() if p.last_rx is not None and p.heard_since]
        return min(times) if times else None

    def deadlines(self) -> list[float]:
        """When a heard peer would go silent, and when a settling one would count."""
        times: list[float] = []
        for peer in self._state.peers.values():
            if peer.last_rx is not None and peer.heard_since is not None:
                times.append(peer.last_rx + self._state.config.token + 1e-3)
                need = self.settle_needed(peer)
                if need > 0:
                    times.append(peer.heard_since + need)
        return times
