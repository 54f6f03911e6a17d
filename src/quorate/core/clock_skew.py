"""Each peer's wall-clock offset, measured from heartbeat round trips with NTP's four timestamps.

Theory of operation
-------------------
Every heartbeat this node sends carries its wall-clock send time (``wall``) and, for each peer, the send time of
that peer's latest heartbeat with the wall-clock time it arrived here (``echo``). When a heartbeat of peer P
arrives, and echoes one of ours, the four times of one exchange are known:

* t1: our heartbeat left here (our clock), t2: it reached P (P's clock),
* t3: P's heartbeat left P (P's clock), t4: it reached here (our clock).

P's clock is ahead of ours by ``((t2 - t1) + (t3 - t4)) / 2``, and the round trip spent on the network is
``(t4 - t1) - (t3 - t2)``; the time P held our stamp before answering cancels out. The estimate error is at most
half the round trip, so of the last `WINDOW` samples the one with the smallest round trip is kept (NTP's
clock filter, simplified): a datagram delayed by a busy scheduler does not move the estimate.

Heartbeats of a node that does not stamp (an older release) carry no ``wall``: its offset stays unknown, and
nothing else changes. Nothing in quorate's safety depends on wall clocks (timers are monotonic); the offset only
lets `quorate timeline` put events from several nodes in the right order, and warns an administrator whose
clocks drifted (the log, the metrics, `quorate status`).

Pure: the shell passes wall-clock seconds in; nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from quorate.core.messages import Heartbeat

WINDOW = 8
DEFAULT_WARN_ABOVE = 1.0


class Sample(NamedTuple):
    """One exchange. The round trip comes first so that the best sample of a window is its plain ``min`` (this
    runs for every heartbeat received: at a 300 ms token, 17 times a second per peer)."""

    delay: float  # round trip on the network, seconds
    offset: float  # peer's clock minus ours, seconds


@dataclass(frozen=True, slots=True)
class Offset:
    """The current estimate for one peer: its clock minus ours, the round trip of the sample it comes from, and
    how many samples the window holds."""

    offset: float
    delay: float
    samples: int


class ClockSkew:
    def __init__(self, local_id: int, *, warn_above: float = DEFAULT_WARN_ABOVE) -> None:
        self.local_id = local_id
        self.warn_above = warn_above
        self._heard: dict[int, tuple[float, float]] = {}  # peer -> (its send time, our receive time)
        self._samples: dict[int, deque[Sample]] = {}
        self._warned: set[int] = set()

    def stamp(self, heartbeat: Heartbeat, wall: float) -> Heartbeat:
        """The heartbeat as it leaves now: our send time and the echo of each peer's latest heartbeat."""
        echo = tuple((peer, sent, received) for peer, (sent, received) in sorted(self._heard.items()))
        return msgspec.structs.replace(heartbeat, wall=wall, echo=echo)

    def heard(self, sender: int, heartbeat: Heartbeat, wall: float) -> str | None:
        """A heartbeat of ``sender`` arrived at our wall-clock ``wall``. Returns a warning sentence the first time
        the peer's offset goes beyond `warn_above` (and again after it came back within it), else None."""
        if heartbeat.wall <= 0:
            return None  # an older release: no stamps
        self._heard[sender] = (heartbeat.wall, wall)
        for peer, t1, t2 in heartbeat.echo:
            if peer != self.local_id:
                continue
            t3, t4 = heartbeat.wall, wall
            delay = (t4 - t1) - (t3 - t2)
            if delay < 0 or delay > 60:
                return None  # not one exchange (a stale or reordered stamp): no sample
            window = self._samples.get(sender)
            if window is None:
                window = self._samples[sender] = deque(maxlen=WINDOW)
            best = min(window) if window else None
            window.append(Sample(delay, ((t2 - t1) + (t3 - t4)) / 2))
            if best is not None and min(window) is best:
                return None  # the estimate did not move: nothing to warn about that was not said already
            return self._check(sender)
        return None

    def forget(self, peer: int) -> None:
        """A peer restarted or left: its next run may have another clock."""
        self._heard.pop(peer, None)
        self._samples.pop(peer, None)
        self._warned.discard(peer)

    def offset(self, peer: int) -> Offset | None:
        window = self._samples.get(peer)
        if not window:
            return None
        best = min(window)
        return Offset(best.offset, best.delay, len(window))

    def offsets(self) -> dict[int, Offset]:
        return {peer: est for peer in sorted(self._samples) if (est := self.offset(peer)) is not None}

    def _check(self, peer: int) -> str | None:
        est = self.offset(peer)
        if est is None:
            return None
        if abs(est.offset) > self.warn_above and peer not in self._warned:
            self._warned.add(peer)
            return est_sentence(peer, est, self.warn_above)
        if abs(est.offset) <= self.warn_above:
            self._warned.discard(peer)
        return None


def est_sentence(peer: int, est: Offset, limit: float) -> str:
    ahead = "ahead of" if est.offset > 0 else "behind"
    return (
        f"E-4: the wall clock of node {peer} is {abs(est.offset):.3f} s {ahead} this node's (round trip "
        f"{est.delay * 1000:.1f} ms), more than {limit:g} s: check NTP on both; membership does not depend on it, "
        "but timestamps in logs and `quorate timeline` do"
    )
