"""Wire security: every drop reason from a real datagram, tampering, replay, restarts and forged traffic."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from quorate.node import wire
from quorate.node.wire import (
    HEADER,
    HEADER_SIZE,
    MAX_DATAGRAM,
    MAX_PAYLOAD,
    REPLAY_WINDOW,
    VERSION,
    Dropped,
    WireCodec,
)

KEY = bytes(range(64))
CLUSTER = 4242


def codec(nodeid: int, epoch: int = 1, known: tuple[int, ...] = (1, 2, 3), key: bytes = KEY) -> WireCodec:
    return WireCodec(key, CLUSTER, nodeid, epoch, known)


def craft(
    payload: bytes = b"hello",
    *,
    sender: int = 1,
    epoch: int = 1,
    counter: int = 1,
    cluster: int = CLUSTER,
    magic: bytes = b"QR",
    version: int = VERSION,
    key: bytes = KEY,
) -> bytes:
    """A correctly authenticated datagram with arbitrary header fields, built from the protocol description."""
    header = HEADER.pack(magic, version, 0, cluster, sender, epoch, counter)
    aead = ChaCha20Poly1305(wire.derive_subkey(key, cluster, sender, epoch))
    return header + aead.encrypt(bytes(4) + counter.to_bytes(8, "big"), payload, header)


def assert_dropped(receiver: WireCodec, datagram: bytes, reason: str) -> None:
    before = receiver.drops[reason]
    with pytest.raises(Dropped) as info:
        receiver.open(datagram)
    assert info.value.reason == reason
    assert receiver.drops[reason] == before + 1


def test_round_trip() -> None:
    a, b = codec(1, epoch=77), codec(2)
    for payload in (b"", b"x", os.urandom(300), os.urandom(MAX_PAYLOAD)):
        assert b.open(a.seal(payload)) == (1, 77, payload)
    assert b.accepted == 4
    assert not b.drops


def test_header_layout_and_counter_sequence() -> None:
    a = codec(1, epoch=9)
    fields = [HEADER.unpack_from(a.seal(b"p")) for _ in range(3)]
    assert HEADER_SIZE == 26
    assert fields == [(b"QR", VERSION, 0, CLUSTER, 1, 9, n) for n in (1, 2, 3)]
    assert a.counter == 3


def test_same_payload_never_seals_to_same_bytes() -> None:
    a = codec(1)
    assert len({a.seal(b"same") for _ in range(50)}) == 50


def test_crafted_datagram_matches_codec_output() -> None:
    """The helper and the codec agree, so crafted datagrams below exercise the real format."""
    assert codec(1, epoch=5).seal(b"abc") == craft(b"abc", epoch=5)


def test_payload_too_large_is_refused_on_seal() -> None:
    a = codec(1)
    assert len(a.seal(bytes(MAX_PAYLOAD))) == MAX_DATAGRAM
    with pytest.raises(ValueError, match="exceeds"):
        a.seal(bytes(MAX_PAYLOAD + 1))
    assert a.counter == 1  # the refused payload consumed no counter


def test_short_key_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        WireCodec(b"k" * 31, CLUSTER, 1, 1, [2])


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (craft()[: HEADER_SIZE + 15], "too_short"),
        (b"", "too_short"),
        (craft(bytes(MAX_PAYLOAD + 1)), "too_large"),
        (craft(magic=b"QS"), "bad_magic"),
        (craft(version=1), "bad_version"),  # a quorate 0.1 node
        (craft(version=VERSION + 1), "bad_version"),
        (craft(cluster=CLUSTER + 1), "wrong_cluster"),
        (craft(sender=9), "unknown_sender"),
        (craft(sender=2), "own_datagram"),
        (craft(key=bytes(64)), "auth_failed"),
    ],
)
def test_each_header_drop_reason(datagram: bytes, reason: str) -> None:
    receiver = codec(2)
    assert_dropped(receiver, datagram, reason)
    assert receiver.accepted == 0
    assert receiver.open(craft()) == (1, 1, b"hello")  # the drop left no trace in the replay state


def test_own_multicast_loopback_is_dropped() -> None:
    node = codec(2)
    assert_dropped(node, node.seal(b"to everyone"), "own_datagram")


def test_wrong_key_is_auth_failed() -> None:
    stranger = WireCodec(os.urandom(64), CLUSTER, 1, 1, [2])
    assert_dropped(codec(2), stranger.seal(b"let me in"), "auth_failed")


def test_identical_datagram_replayed() -> None:
    a, b = codec(1), codec(2)
    datagram = a.seal(b"once")
    b.open(datagram)
    assert_dropped(b, datagram, "replay")
    assert b.accepted == 1


def test_reordering_within_window_accepted_once() -> None:
    a, b = codec(1), codec(2)
    sent = [a.seal(bytes([n])) for n in range(10)]
    order = [9, 0, 5, 1, 8, 2, 7, 3, 6, 4]
    assert [b.open(sent[i])[2] for i in order] == [bytes([i]) for i in order]
    for i in range(10):
        assert_dropped(b, sent[i], "replay")


def test_window_edge() -> None:
    a, b = codec(1), codec(2)
    sent = [a.seal(b"") for _ in range(200)]  # counters 1..200 at indices 0..199
    b.open(sent[199])
    assert_dropped(b, sent[199 - REPLAY_WINDOW], "replay")  # exactly one window behind: too old
    b.open(sent[199 - REPLAY_WINDOW + 1])  # the oldest counter still inside the window
    assert_dropped(b, sent[0], "replay")


def test_jump_beyond_window_forgets_everything_older() -> None:
    a, b = codec(1), codec(2)
    sent = [a.seal(b"") for _ in range(300)]
    b.open(sent[5])
    b.open(sent[299])
    assert_dropped(b, sent[6], "replay")
    b.open(sent[298])


def test_restart_with_higher_epoch_resets_then_old_epoch_is_stale() -> None:
    old, b = codec(1, epoch=5), codec(2)
    before = [old.seal(b"old") for _ in range(40)]
    for datagram in before[:30]:
        b.open(datagram)
    restarted = codec(1, epoch=6)
    assert b.open(restarted.seal(b"new")) == (1, 6, b"new")  # counter 1 again, but a fresh epoch
    assert b.open(restarted.seal(b"new")) == (1, 6, b"new")
    assert_dropped(b, before[30], "stale_epoch")  # never seen, but from before the restart
    assert_dropped(b, before[0], "stale_epoch")


def test_first_contact_accepts_any_epoch_and_counter() -> None:
    b = codec(2)
    assert b.open(craft(epoch=2**64 - 1, counter=2**64 - 1)) == (1, 2**64 - 1, b"hello")


def test_counter_zero_is_never_accepted() -> None:
    assert_dropped(codec(2), craft(counter=0), "replay")


def test_forged_body_never_moves_the_window() -> None:
    a, b = codec(1), codec(2)
    b.open(a.seal(b"1"))
    forged = HEADER.pack(b"QR", VERSION, 0, CLUSTER, 1, 1, 10**9) + os.urandom(40)
    assert_dropped(b, forged, "auth_failed")
    assert b.open(a.seal(b"2")) == (1, 1, b"2")


def test_forged_higher_epoch_does_not_reset_the_window() -> None:
    a, b = codec(1, epoch=3), codec(2)
    first = a.seal(b"1")
    b.open(first)
    assert_dropped(b, HEADER.pack(b"QR", VERSION, 0, CLUSTER, 1, 4, 1) + os.urandom(40), "auth_failed")
    assert_dropped(b, first, "replay")
    assert b.open(a.seal(b"2"))[2] == b"2"


def test_senders_are_independent() -> None:
    a, c, b = codec(1), codec(3), codec(2)
    b.open(a.seal(b""))
    assert b.open(c.seal(b"from 3")) == (3, 1, b"from 3")


def test_set_known_senders_and_replay_state_survives_removal() -> None:
    a, b = codec(1), codec(2)
    first = a.seal(b"")
    b.open(first)
    b.set_known_senders([3])
    assert_dropped(b, a.seal(b""), "unknown_sender")
    b.set_known_senders([1, 3])
    assert_dropped(b, first, "replay")
    b.open(a.seal(b""))


def test_subkey_derived_once_per_sender_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = codec(1), codec(2)
    calls: list[tuple[int, int]] = []
    real = wire.derive_subkey

    def counting(key: bytes, cluster_id: int, sender: int, epoch: int) -> bytes:
        calls.append((sender, epoch))
        return real(key, cluster_id, sender, epoch)

    monkeypatch.setattr(wire, "derive_subkey", counting)
    for _ in range(100):
        b.open(a.seal(b"x"))
    assert calls == [(1, 1)]


def test_forged_epochs_do_not_evict_cached_subkeys(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = codec(1), codec(2)
    b.open(a.seal(b""))
    for epoch in range(2, 200):
        assert_dropped(b, HEADER.pack(b"QR", VERSION, 0, CLUSTER, 1, epoch, 1) + bytes(16), "auth_failed")
    calls: list[int] = []
    real = wire.derive_subkey

    def counting(key: bytes, cluster_id: int, sender: int, epoch: int) -> bytes:
        calls.append(epoch)
        return real(key, cluster_id, sender, epoch)

    monkeypatch.setattr(wire, "derive_subkey", counting)
    b.open(a.seal(b""))
    assert calls == []


def test_subkey_cache_is_bounded() -> None:
    b = codec(2)
    for epoch in range(1, wire.SUBKEY_CACHE * 2):
        b.open(craft(epoch=epoch))
    assert len(b._aeads) == wire.SUBKEY_CACHE


_GENUINE_PAYLOAD = os.urandom(100)
_GENUINE = craft(_GENUINE_PAYLOAD, epoch=12, counter=7)


@given(bit=st.integers(0, len(_GENUINE) * 8 - 1))
def test_any_flipped_bit_is_dropped(bit: int) -> None:
    receiver = codec(2)
    tampered = bytearray(_GENUINE)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(Dropped):
        receiver.open(bytes(tampered))
    assert receiver.accepted == 0
    assert receiver.open(_GENUINE) == (1, 12, _GENUINE_PAYLOAD)


@given(st.binary(max_size=MAX_DATAGRAM + 64))
def test_random_bytes_only_ever_dropped(data: bytes) -> None:
    with pytest.raises(Dropped) as info:
        codec(2).open(data)
    assert info.value.reason in wire.DROP_REASONS


@given(st.binary(max_size=200), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_random_body_behind_valid_header_is_auth_failed(body: bytes, epoch: int, counter: int) -> None:
    receiver = codec(2)
    with pytest.raises(Dropped) as info:
        receiver.open(HEADER.pack(b"QR", VERSION, 0, CLUSTER, 1, epoch, counter) + body)
    assert info.value.reason in ("too_short", "auth_failed")
    assert receiver.open(craft()) == (1, 1, b"hello")


def test_a_node_of_another_release_is_said_once_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    from quorate.node.transport import Transport

    receiver = WireCodec(KEY, CLUSTER, 2, 1, [1, 3])
    delivered: list[int] = []
    transport = Transport(receiver, {1: "192.168.0.201", 3: "192.168.0.203"}, 5405, lambda s, e, p: delivered.append(s))
    old = craft(version=1)
    for _ in range(3):
        transport.datagram_received(old, ("192.168.0.201", 5405))
    transport.datagram_received(old, ("10.9.9.9", 5405))  # not a configured address: counted, not named
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "node id 1 (192.168.0.201) sends wire protocol version 1 and this quorated speaks 2: they cannot form one "
        "view; every node must run the same quorate release (stop quorated on every node, upgrade, start)"
    ]
    assert receiver.drops["bad_version"] == 4 and delivered == []
