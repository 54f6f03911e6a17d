"""The key rotation state machine, driven by hand: steps, confirmations, abort, takeover and key fetch."""

from __future__ import annotations

from quorate.core.effects import Send
from quorate.core.key_rotation import (
    LINGER,
    STAGE_TIMEOUT,
    DiscardKey,
    FetchDone,
    InstallKey,
    KeyRotation,
    KeyWritten,
    Phase,
    SendRetired,
    StageKey,
    UseKeys,
)
from quorate.core.messages import KeyAbort, KeyAck, KeyFetch, KeyGo, KeyGrant, KeyOffer, KeyStep, RotationId

OLD = b"o" * 64
NEW = b"n" * 64
NAMES = {1: "balthasar", 2: "casper", 3: "melchior"}
ALL = frozenset({1, 2, 3})


def node(nodeid: int, members: frozenset[int] = ALL) -> KeyRotation:
    k = KeyRotation(nodeid, OLD, NAMES)
    k.on_view(0.0, 5, members, quorate=True)
    k.take_effects()
    return k


def sent(effects: list[object], kind: type) -> list[tuple[tuple[int, ...], object]]:
    return [(e.to, e.message) for e in effects if isinstance(e, Send) and isinstance(e.message, kind)]


def stage_written(k: KeyRotation, rid: RotationId, now: float = 0.0) -> list[object]:
    k.written(now, KeyWritten(rid, KeyStep.STAGED, True))
    return list(k.take_effects())


def test_refusals_say_why() -> None:
    k = node(1)
    assert "too short" in (k.rotate(0.0, b"x", 10, quorate=True, refusal=None) or "")
    assert "not in a quorate view" in (k.rotate(0.0, NEW, 10, quorate=False, refusal=None) or "")
    refusal = "casper runs a release without key rotation: upgrade it first"
    assert k.rotate(0.0, NEW, 10, quorate=True, refusal=refusal) == refusal
    assert k.rotate(0.0, NEW, 10, quorate=True, refusal=None) is None
    assert "already in progress" in (k.rotate(0.0, NEW, 10, quorate=True, refusal=None) or "")


def test_a_whole_rotation_switches_only_after_everyone_staged_and_drops_the_old_key_after_everyone_sends() -> None:
    driver, m2, m3 = node(1), node(2), node(3)
    assert driver.rotate(0.0, NEW, 100, quorate=True, refusal=None) is None
    effects = driver.take_effects()
    assert StageKey(RotationId(5, 1), NEW) in effects
    assert UseKeys(OLD, (OLD, NEW)) in effects  # accepts the new key at once, still sends with the old one
    offers = sent(effects, KeyOffer)
    assert {to for to, _ in offers} == {(2,), (3,)}
    rid = offers[0][1].rotation
    stage_written(driver, rid)
    for member in (m2, m3):
        member.receive(0.1, 1, offers[0][1])
        assert UseKeys(OLD, (OLD, NEW)) in member.take_effects()
    acks2 = stage_written(m2, rid)
    driver.receive(0.2, 2, sent(acks2, KeyAck)[0][1])
    assert not sent(driver.take_effects(), KeyGo)  # melchior has not confirmed: nobody switches
    driver.receive(0.2, 3, sent(stage_written(m3, rid), KeyAck)[0][1])
    effects = driver.take_effects()
    assert UseKeys(NEW, (NEW, OLD)) in effects
    assert sent(effects, KeyGo) == [((2, 3), KeyGo(rid, KeyStep.SWITCH))]
    for nodeid, member in ((2, m2), (3, m3)):
        member.receive(0.3, 1, KeyGo(rid, KeyStep.SWITCH))
        member_effects = member.take_effects()
        assert UseKeys(NEW, (NEW, OLD)) in member_effects
        driver.receive(0.3, nodeid, sent(member_effects, KeyAck)[0][1])
    effects = driver.take_effects()
    assert InstallKey(rid, NEW) in effects and sent(effects, KeyGo) == [((2, 3), KeyGo(rid, KeyStep.FINISH))]
    driver.tick(0.3 + LINGER)
    assert UseKeys(NEW, (NEW,), OLD) in driver.take_effects()  # the old key only opens key fetches now
    assert driver.current is not None and driver.current.phase is Phase.DONE


def test_a_member_that_cannot_write_the_key_aborts_the_rotation_before_anyone_switches() -> None:
    driver = node(1)
    driver.rotate(0.0, NEW, 100, quorate=True, refusal=None)
    rid = sent(driver.take_effects(), KeyOffer)[0][1].rotation
    stage_written(driver, rid)
    driver.receive(0.1, 2, KeyAck(rid, KeyStep.STAGED, ok=False, detail="No space left on device"))
    effects = driver.take_effects()
    abort = sent(effects, KeyAbort)
    assert abort and "casper could not write the new key: No space left on device" in abort[0][1].reason
    assert DiscardKey(rid) in effects and UseKeys(OLD, (OLD,)) in effects
    member = node(3)
    member.receive(0.1, 1, KeyOffer(rid, NEW, 100))
    member.take_effects()
    member.receive(0.2, 1, abort[0][1])
    assert DiscardKey(rid) in member.take_effects()
    assert member.current is not None and member.current.phase is Phase.ABORTED


def test_a_silent_member_aborts_after_the_stage_timeout() -> None:
    driver = node(1)
    driver.rotate(0.0, NEW, 100, quorate=True, refusal=None)
    rid = sent(driver.take_effects(), KeyOffer)[0][1].rotation
    stage_written(driver, rid)
    driver.tick(STAGE_TIMEOUT + 0.1)
    abort = sent(driver.take_effects(), KeyAbort)
    assert abort and "casper, melchior did not confirm" in abort[0][1].reason


def test_when_the_driver_leaves_the_lowest_member_takes_over_from_what_the_others_forward() -> None:
    rid = RotationId(5, 3)
    m1, m2 = node(1), node(2)
    m2.receive(0.0, 3, KeyOffer(rid, NEW, 100))
    stage_written(m2, rid)
    m2.receive(0.1, 3, KeyGo(rid, KeyStep.SWITCH))  # casper sends with the new key already
    m2.take_effects()
    # melchior (the driver) dies; balthasar never got the offer
    m2.on_view(1.0, 6, frozenset({1, 2}), quorate=True)
    forwarded = sent(m2.take_effects(), KeyOffer)
    assert forwarded == [((1,), KeyOffer(rid, NEW, 100, sending=True))]
    m1.on_view(1.0, 6, frozenset({1, 2}), quorate=True)
    m1.receive(1.1, 2, forwarded[0][1])
    effects = stage_written(m1, rid, 1.2)
    # casper already sends with the new key: balthasar switches, and since both send with it, finishes
    assert sent(effects, KeyGo) == [((2,), KeyGo(rid, KeyStep.SWITCH)), ((2,), KeyGo(rid, KeyStep.FINISH))]
    assert InstallKey(rid, NEW) in effects


def test_an_inquorate_driver_waits() -> None:
    driver = node(1)
    driver.rotate(0.0, NEW, 100, quorate=True, refusal=None)
    rid = sent(driver.take_effects(), KeyOffer)[0][1].rotation
    driver.on_view(0.5, 6, frozenset({1, 2}), quorate=False)
    driver.take_effects()
    stage_written(driver, rid)
    driver.receive(0.6, 2, KeyAck(rid, KeyStep.STAGED))
    assert not sent(driver.take_effects(), KeyGo)
    assert driver.next_deadline() is None


def test_a_node_that_missed_the_rotation_fetches_the_key_within_the_grace_period_only() -> None:
    member = node(2)
    rid = RotationId(5, 1)
    member.receive(0.0, 1, KeyOffer(rid, NEW, 100))
    stage_written(member, rid)
    member.receive(0.1, 1, KeyGo(rid, KeyStep.SWITCH))
    member.receive(0.2, 1, KeyGo(rid, KeyStep.FINISH))
    member.take_effects()
    member.fetch_request(50.0, 3, KeyFetch(77))
    answer = [e for e in member.take_effects() if isinstance(e, SendRetired)]
    assert answer == [SendRetired((3,), KeyGrant(77, rid, NEW))]
    member.fetch_request(50.0, 3, KeyOffer(rid, NEW, 100))  # the retired key opens nothing else
    assert not [e for e in member.take_effects() if isinstance(e, SendRetired)]
    member.tick(0.2 + LINGER + 100)
    assert UseKeys(NEW, (NEW,), None) in member.take_effects()
    member.fetch_request(0.2 + LINGER + 101, 3, KeyFetch(78))
    assert not [e for e in member.take_effects() if isinstance(e, SendRetired)]

    late = KeyRotation(3, OLD, NAMES)
    late.fetch(60.0, 77, [1, 2, 3])
    assert sent(late.take_effects(), KeyFetch) == [((1, 2), KeyFetch(77))]
    late.receive(60.1, 2, KeyGrant(77, rid, NEW))
    effects = late.take_effects()
    assert InstallKey(rid, NEW) in effects and UseKeys(NEW, (NEW,), None) in effects
    done = [e for e in effects if isinstance(e, FetchDone)]
    assert done and done[0].ok and "from casper" in done[0].text


def test_a_fetch_nobody_answers_says_what_to_do() -> None:
    late = KeyRotation(3, OLD, NAMES)
    late.fetch(0.0, 5, [1, 2])
    late.take_effects()
    deadline = late.next_deadline()
    assert deadline is not None
    late.tick(deadline)
    done = [e for e in late.take_effects() if isinstance(e, FetchDone)]
    assert done and not done[0].ok and "copy the key file from a member" in done[0].text


def test_a_fetch_that_arrives_during_the_linger_is_answered_too() -> None:
    member = node(2)
    rid = RotationId(5, 1)
    member.receive(0.0, 1, KeyOffer(rid, NEW, 100))
    stage_written(member, rid)
    member.receive(0.1, 1, KeyGo(rid, KeyStep.SWITCH))
    member.receive(0.2, 1, KeyGo(rid, KeyStep.FINISH))
    effects = member.take_effects()
    assert UseKeys(NEW, (NEW, OLD), OLD) in effects  # the codec can seal an answer with the old key already
    member.on_view(0.3, 6, frozenset({1, 2}), quorate=True)
    member.take_effects()
    member.receive(0.5, 3, KeyFetch(9))  # the old key still opens cluster traffic: it comes the ordinary way
    assert [e for e in member.take_effects() if isinstance(e, SendRetired)] == [
        SendRetired((3,), KeyGrant(9, rid, NEW))
    ]
