"""Hearing (failure detection): which peers a node reports as heard, on an explicit clock, peers played by hand."""

from __future__ import annotations

import pytest
from membership_rig import TOKEN, Rig

from quorate.core.messages import Heartbeat, Leave

SETTLE = 2 * TOKEN


def silenced(peer: int, *, for_: float) -> Rig:
    """Node 1 hears casper and melchior from t=0 to t=1; then `peer` is silent for `for_` s while the other talks."""
    rig = Rig()
    rig.talk(1.0, (2, 3))
    assert rig.heard(2) and rig.heard(3)
    rig.talk(1.0 + for_, {2, 3} - {peer})
    return rig


@pytest.mark.parametrize(
    ("silence", "heard"),
    [(0.1, True), (0.9 * TOKEN, True), (1.1 * TOKEN, False), (3 * TOKEN, False)],
    ids=["a heartbeat late", "just under the token", "just over the token", "long gone"],
)
def test_a_peer_is_heard_until_it_is_silent_for_a_token(silence: float, heard: bool) -> None:
    rig = silenced(3, for_=silence)
    assert rig.heard(3) is heard
    last = rig.sent(Heartbeat)[-1]
    assert (3 in last.hears) is heard, "the heartbeats say what status says"


@pytest.mark.parametrize(
    ("restarted", "heard_at_once"),
    [(False, False), (True, True)],
    ids=["same process, the link came back", "restarted process"],
)
def test_a_link_back_settles_but_a_restarted_peer_counts_at_once(restarted: bool, heard_at_once: bool) -> None:
    rig = silenced(3, for_=1.5)
    assert not rig.heard(3)
    if restarted:
        rig.restart(3)
    back = rig.now
    rig.heartbeat(3)
    assert rig.heard(3) is heard_at_once
    rig.talk(back + SETTLE - 0.1, (2, 3))
    assert rig.heard(3) is heard_at_once, "a flapping link must be heard for the whole settle time"
    rig.talk(back + SETTLE + 0.1, (2, 3))
    assert rig.heard(3)


def test_a_link_that_flaps_during_the_settle_time_starts_it_again() -> None:
    rig = silenced(3, for_=1.5)
    rig.talk(rig.now + 1.0, (2, 3))  # back for half the settle time
    rig.talk(rig.now + 1.5, (2,))  # lost again
    again = rig.now
    rig.heartbeat(3)
    rig.talk(again + SETTLE - 0.1, (2, 3))
    assert not rig.heard(3), "the first stretch of the settle time must not count after a new loss"
    rig.talk(again + SETTLE + 0.1, (2, 3))
    assert rig.heard(3)


def test_no_view_takes_a_flapping_peer_back_before_it_settled() -> None:
    rig = silenced(3, for_=1.5)
    assert rig.core.members == {1, 2}
    mark = rig.mark()
    rig.restart(3)  # (a restarted peer presents a new run: it is not refused as a stale one)
    rig.talk(rig.now + 1.0, (2, 3))
    assert rig.core.members == {1, 2, 3}, "a restarted peer joins at once"
    rig.talk(rig.now + 1.5, (2,))
    assert rig.core.members == {1, 2}
    rig.incarnations[3] += 1  # the same process comes back as a new incarnation (it held no quorum)
    back = rig.now
    rig.talk(back + SETTLE - 0.1, (2, 3))
    assert rig.core.members == {1, 2}
    rig.talk(back + SETTLE + 0.5, (2, 3))
    assert rig.core.members == {1, 2, 3}
    assert [sorted(v.members) for v in rig.views(mark)] == [[1, 2, 3], [1, 2], [1, 2, 3]]


def test_a_loss_is_logged_once_per_loss_and_only_for_a_peer_that_was_heard() -> None:
    rig = Rig(votes=(1, 1, 1, 1, 1))  # adam (4) never talks; lilith (5) leaves cleanly: neither is "lost"
    rig.talk(1.0, (2, 3, 5))
    rig.receive(5, Leave(0))
    rig.talk(4.0, (2,))  # melchior silent for three tokens: many evaluations, one loss
    lost = [text for text in rig.logs() if text.startswith("lost contact")]
    assert lost == ["lost contact with melchior: silent for more than the 1 s token"]
    rig.restart(3)
    rig.talk(5.0, (2, 3))
    rig.talk(7.0, (2,))
    lost = [text for text in rig.logs() if text.startswith("lost contact")]
    assert lost == ["lost contact with melchior: silent for more than the 1 s token"] * 2


@pytest.mark.parametrize(
    ("say", "heard"),
    [
        ("nothing more", True),
        ("a clean leave", False),
        ("a clean leave, then a restart", True),
        ("another configuration version", False),
        ("the same version of another file", False),
    ],
)
def test_what_a_talking_peer_says_decides_whether_it_is_reported(say: str, heard: bool) -> None:
    rig = Rig()
    rig.heartbeat(2)  # casper alone is in node 1's view; melchior talks but stays outside
    rig.talk(1.0, (2,))
    assert rig.core.members == {1, 2}
    if say.startswith("a clean leave"):
        rig.heartbeat(3)
        rig.receive(3, Leave(0))
        if say.endswith("restart"):
            rig.restart(3)
        rig.heartbeat(3)
    elif say == "another configuration version":
        rig.heartbeat(3, config_version=2)
    elif say == "the same version of another file":
        rig.heartbeat(3, digest="d2")
    else:
        rig.heartbeat(3)
    rig.at(rig.now + 0.01)
    assert rig.heard(3) is heard


def test_a_member_one_activation_behind_is_still_heard() -> None:
    rig = Rig()
    rig.talk(1.0, (2, 3))
    assert rig.core.members == {1, 2, 3}
    rig.heartbeat(3, view=rig.core.view, members=rig.core.members, config_version=2, digest="d2")
    rig.at(rig.now + 0.01)
    assert rig.heard(3) and rig.refused(3) is None


def test_the_core_wakes_up_when_a_silent_peer_reaches_the_token() -> None:
    rig = Rig()
    rig.talk(1.0, (2, 3))
    rig.talk(1.5, (2,))  # melchior's last heartbeat was at t=1.0
    wakeups = []
    while rig.now < 2.1:
        deadline = rig.core.next_deadline()
        assert deadline is not None and deadline > rig.now
        wakeups.append(deadline)
        rig.at(deadline)
        rig.heartbeat(2)
    assert any(1.0 + TOKEN < t <= 1.0 + TOKEN + 0.002 for t in wakeups), wakeups
    assert not rig.heard(3)
