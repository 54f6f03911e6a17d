"""The node core advertises its features in every heartbeat and refuses a rotation a member cannot take part in."""

from __future__ import annotations

from quorate.core.effects import Send
from quorate.core.features import INVENTORY_PARTS, KEY_ROTATION, TABLE_DELTAS
from quorate.core.messages import Heartbeat, decode, encode
from quorate.core.node_core import NodeCore
from quorate.sim.stack import stack_settings

KEY = b"k" * 64


def core(nodeid: int, **kwargs: object) -> NodeCore:
    return NodeCore(stack_settings(3, {}).settings(nodeid, b""), boot=1, now=0.0, key=KEY, **kwargs)  # type: ignore[arg-type]


def heartbeats(node: NodeCore, now: float) -> list[Heartbeat]:
    node.handle_timer(now)
    return [e.message for e in node.take_effects() if isinstance(e, Send) and isinstance(e.message, Heartbeat)]


def test_heartbeats_carry_the_features_and_an_older_release_sends_none() -> None:
    (beat,) = heartbeats(core(1), 1.0)[:1]
    assert decode(encode(beat)).features == (INVENTORY_PARTS, KEY_ROTATION, TABLE_DELTAS)  # type: ignore[union-attr]
    (old_beat,) = heartbeats(core(2, features=frozenset()), 1.0)[:1]
    assert old_beat.features == ()


def test_a_rotation_is_refused_while_a_member_has_not_advertised_it() -> None:
    a, b = core(1), core(2, features=frozenset())
    for now in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0):  # exchange heartbeats until they form one quorate view
        for sender, receiver in ((a, b), (b, a)):
            sender.handle_timer(now)
            for effect in sender.take_effects():
                if isinstance(effect, Send) and receiver.local_id in effect.to:
                    receiver.receive(encode(effect.message), sender.local_id, now)
    assert a.membership.members == {1, 2} and a.quorate
    refusal = a.rotate_key(b"n" * 64, 100, 5.0)
    assert refusal == "casper.localdomain runs a release without key rotation: upgrade it first"
