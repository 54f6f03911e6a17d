"""The wire codec during a key rotation: two keys to open with, one to seal with, and a retired key that opens
nothing but key fetches."""

from __future__ import annotations

import pytest

from quorate.node.wire import Dropped, RetiredKeyDatagram, WireCodec

OLD = b"o" * 64
NEW = b"n" * 64


def pair() -> tuple[WireCodec, WireCodec]:
    return WireCodec(OLD, 7, 1, 10, {2}), WireCodec(OLD, 7, 2, 20, {1})


def test_a_node_that_accepts_both_keys_hears_peers_on_either_side_of_the_switch() -> None:
    a, b = pair()
    b.use_keys(OLD, (OLD, NEW))
    a.use_keys(NEW, (NEW, OLD))
    assert b.open(a.seal(b"switched"))[2] == b"switched"
    assert a.open(b.seal(b"not yet"))[2] == b"not yet"


def test_a_node_without_the_new_key_refuses_it_as_an_authentication_failure() -> None:
    a, b = pair()
    a.use_keys(NEW, (NEW,))
    with pytest.raises(Dropped) as caught:
        b.open(a.seal(b"x"))
    assert caught.value.reason == "auth_failed" and b.drops["auth_failed"] == 1


def test_the_retired_key_opens_datagrams_only_for_the_key_fetch_handler() -> None:
    a, b = pair()
    b.use_keys(NEW, (NEW,), retired=OLD)  # b finished the rotation; a missed it
    with pytest.raises(RetiredKeyDatagram) as caught:
        b.open(a.seal(b"fetch"))
    assert (caught.value.sender, caught.value.payload) == (1, b"fetch")
    assert b.drops["retired_key"] == 1 and b.accepted == 0
    assert a.open(b.seal(b"grant", retired=True))[2] == b"grant"  # sealed so that the old key's holder can read it
    with pytest.raises(Dropped):
        a.open(b.seal(b"cluster traffic"))


def test_sealing_with_the_retired_key_needs_one() -> None:
    a, _ = pair()
    with pytest.raises(ValueError, match="no retired key"):
        a.seal(b"x", retired=True)


def test_a_replayed_datagram_is_refused_whichever_key_sealed_it() -> None:
    a, b = pair()
    b.use_keys(OLD, (OLD, NEW))
    first = a.seal(b"one")
    a.use_keys(NEW, (NEW, OLD))
    second = a.seal(b"two")
    b.open(first)
    b.open(second)
    with pytest.raises(Dropped) as caught:
        b.open(first)
    assert caught.value.reason == "replay"
