"""Feature negotiation: what every member of a view supports, and what an older release does with it."""

from __future__ import annotations

from types import ModuleType

import msgspec

from quorate.core.effects import Log
from quorate.core.features import KEY_ROTATION, SUPPORTED, FeatureTable, Unreadable
from quorate.core.messages import Heartbeat, KeyFetch, MalformedMessage, ViewId, decode, encode

NAMES = {1: "balthasar.localdomain", 2: "casper.localdomain", 3: "melchior.localdomain"}


def test_a_feature_is_usable_only_when_every_member_advertised_it() -> None:
    table = FeatureTable(1)
    table.heard(2, boot=10, features=sorted(SUPPORTED))
    assert table.common({1, 2}) == SUPPORTED
    assert table.missing(KEY_ROTATION, {1, 2, 3}) == [3]  # no heartbeat from 3: it lacks everything
    table.heard(3, boot=5, features=())
    assert table.common({1, 2, 3}) == frozenset()


def test_the_refusal_names_the_node_to_upgrade() -> None:
    table = FeatureTable(1)
    table.heard(2, boot=10, features=())
    table.heard(3, boot=10, features=[KEY_ROTATION])
    assert table.refusal(KEY_ROTATION, {1, 2, 3}, NAMES) == (
        "casper.localdomain runs a release without key rotation: upgrade it first"
    )
    assert table.refusal(KEY_ROTATION, {1, 3}, NAMES) is None


def test_a_restart_on_an_older_release_withdraws_the_features_but_a_late_old_heartbeat_does_not() -> None:
    table = FeatureTable(1)
    table.heard(2, boot=10, features=[KEY_ROTATION])
    table.heard(2, boot=11, features=())  # restarted on the old release
    assert table.missing(KEY_ROTATION, {2}) == [2]
    table.heard(2, boot=10, features=[KEY_ROTATION])  # a reordered heartbeat of the previous run
    assert table.missing(KEY_ROTATION, {2}) == [2]


def test_the_advertised_list_is_a_trailing_field_an_older_decoder_ignores(messages_0_2_0: ModuleType) -> None:
    new = Heartbeat(7, 1, 1, (2,), ViewId(3, 1), (1, 2), ViewId(3, 1), 3, 1, "d", features=(KEY_ROTATION,))
    old = messages_0_2_0.decode(encode(new))
    assert isinstance(old, messages_0_2_0.Heartbeat)
    assert (old.boot, old.members, old.stale) == (7, (1, 2), ())
    from_old = decode(messages_0_2_0.encode(old))
    assert isinstance(from_old, Heartbeat) and from_old.features == ()


def test_an_unknown_message_kind_is_counted_and_said_once_per_peer() -> None:
    class Future(msgspec.Struct, frozen=True, array_like=True, tag="zz"):
        x: int

    unreadable = Unreadable(NAMES)
    errors = []
    for _ in range(2):
        try:
            decode(msgspec.msgpack.encode(Future(1)))
        except MalformedMessage as exc:
            errors.append(str(exc))
    said = [unreadable.note(2, error) for error in errors]
    assert isinstance(said[0], Log) and "casper.localdomain" in said[0].text and "newer release" in said[0].text
    assert said[1] is None
    assert unreadable.counts == {"unknown-kind": 2}
    other = unreadable.note(3, errors[0])
    assert other is not None and "melchior" in other.text


def test_a_malformed_body_is_a_different_reason() -> None:
    unreadable = Unreadable(NAMES)
    try:
        decode(msgspec.msgpack.encode(["kq", "not a number"]))
    except MalformedMessage as exc:
        said = unreadable.note(2, str(exc))
    assert said is not None and "malformed" in said.text
    assert unreadable.counts == {"malformed": 1}
    assert isinstance(decode(encode(KeyFetch(5))), KeyFetch)
