"""Peer clock offsets from heartbeat stamps (E-4): NTP's four timestamps, the minimum-delay filter, the warning,
and heartbeats that still mean the same to a release that does not stamp them."""

from __future__ import annotations

from types import ModuleType

import msgspec

from quorate.core.clock_skew import WINDOW, ClockSkew
from quorate.core.messages import NO_VIEW, Heartbeat, decode, encode


def _heartbeat(number: int = 1) -> Heartbeat:
    return Heartbeat(7, number, 1, (1, 2), NO_VIEW, (), NO_VIEW, 2, 1, "digest")


class Pair:
    """Node 1 (true time) and node 2 (its clock ``skew`` ahead), exchanging heartbeats over a network whose
    one-way delays the test chooses."""

    def __init__(self, skew: float) -> None:
        self.skew = skew
        self.a, self.b = ClockSkew(1), ClockSkew(2)
        self.t = 1000.0
        self.warnings: list[str] = []

    def a_to_b(self, delay: float) -> None:
        sent = self.a.stamp(_heartbeat(), self.t)
        self.t += delay
        self.b.heard(1, decode(encode(sent)), self.t + self.skew)  # type: ignore[arg-type]

    def b_to_a(self, delay: float) -> None:
        sent = self.b.stamp(_heartbeat(), self.t + self.skew)
        self.t += delay
        warning = self.a.heard(2, decode(encode(sent)), self.t)  # type: ignore[arg-type]
        if warning:
            self.warnings.append(warning)

    def rounds(self, n: int, delay: float = 0.001, hold: float = 0.3) -> None:
        for _ in range(n):
            self.a_to_b(delay)
            self.t += hold
            self.b_to_a(delay)
            self.t += hold


def test_a_peer_five_seconds_ahead_is_measured_at_five_seconds() -> None:
    pair = Pair(5.0)
    pair.rounds(4)
    est = pair.a.offset(2)
    assert est is not None and abs(est.offset - 5.0) < 1e-6
    assert abs(est.delay - 0.002) < 1e-6  # the holding time between the heartbeats does not count
    back = pair.b.offset(1)
    assert back is not None and abs(back.offset + 5.0) < 1e-6


def test_the_sample_with_the_shortest_round_trip_wins() -> None:
    pair = Pair(-2.0)
    pair.rounds(2, delay=0.001)
    pair.a_to_b(0.001)
    pair.b_to_a(0.400)  # a delayed datagram: one-sided, it would move the offset by 0.2 s
    est = pair.a.offset(2)
    assert est is not None and abs(est.offset + 2.0) < 1e-6
    pair.rounds(WINDOW + 1, delay=0.050)  # the good samples leave the window: the best of the rest counts
    est = pair.a.offset(2)
    assert est is not None and est.samples == WINDOW and abs(est.delay - 0.1) < 1e-6


def test_warning_once_above_the_threshold_and_again_after_recovery() -> None:
    pair = Pair(1.5)
    pair.rounds(5)
    assert len(pair.warnings) == 1
    assert "node 2 is 1.500 s ahead of this node's" in pair.warnings[0] and pair.warnings[0].startswith("E-4: ")
    pair.skew = 0.1
    pair.a.forget(2)  # a new run of the peer, with a corrected clock
    pair.rounds(3)
    pair.skew = -3.0
    pair.a.forget(2)
    pair.rounds(2)
    assert len(pair.warnings) == 2 and "behind" in pair.warnings[1]


def test_a_configured_threshold_is_used() -> None:
    pair = Pair(1.5)
    pair.a.warn_above = 2.0
    pair.rounds(5)
    assert pair.warnings == []


def test_a_peer_that_does_not_stamp_has_no_offset() -> None:
    skew = ClockSkew(1)
    ours = skew.stamp(_heartbeat(), 100.0)
    assert skew.heard(2, _heartbeat(), 100.5) is None  # an older release: wall 0, no echo
    assert skew.offset(2) is None and skew.offsets() == {}
    assert ours.echo == ()


def test_stamped_heartbeats_decode_on_the_previous_release_and_back(messages_0_2_0: ModuleType) -> None:
    stamped = ClockSkew(1)
    stamped.heard(2, msgspec.structs.replace(_heartbeat(), wall=50.0), 50.2)
    data = encode(stamped.stamp(_heartbeat(3), 60.0))
    old = messages_0_2_0.decode(data)
    assert isinstance(old, messages_0_2_0.Heartbeat)
    assert (old.number, old.config_digest, old.stale) == (3, "digest", ())
    new = decode(messages_0_2_0.encode(old))
    assert isinstance(new, Heartbeat) and new.wall == 0.0 and new.echo == ()


def test_stamps_add_about_twenty_bytes_per_peer() -> None:
    peers = range(2, 33)  # the largest cluster the scale bench runs: 32 nodes
    skew = ClockSkew(1)
    for peer in peers:
        skew.heard(peer, msgspec.structs.replace(_heartbeat(), wall=1_800_000_000.123456), 1_800_000_000.654321)
    plain = Heartbeat(7, 1, 1, tuple(peers), NO_VIEW, tuple(peers), NO_VIEW, 32, 1, "digest")
    stamped = skew.stamp(plain, 1_800_000_001.0)
    assert len(stamped.echo) == 31
    assert len(encode(stamped)) - len(encode(plain)) <= 9 + 1 + 31 * 20
