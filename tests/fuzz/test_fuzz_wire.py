"""Datagrams from the network: authenticated and fresh, or Dropped; payloads: a message, or MalformedMessage.

Random datagrams stop at the header checks or authentication, so some are built with a valid header for a
known sender, and some are sealed with the cluster key around random payloads: those reach the message decoder.
"""

from __future__ import annotations

from fuzzing import FUZZ, bounded
from hypothesis import given
from hypothesis import strategies as st

from quorate.core import messages
from quorate.node.wire import HEADER, MAGIC, MAX_PAYLOAD, VERSION, Dropped, WireCodec

KEY = bytes(range(32))
CLUSTER = 1571


def receiver() -> WireCodec:
    return WireCodec(KEY, CLUSTER, 1, epoch=5, known_senders={1, 2, 3})


def check_open(codec: WireCodec, datagram: bytes) -> None:
    try:
        sender, epoch, payload = bounded(lambda: codec.open(datagram))
    except Dropped:
        return
    assert sender in (2, 3) and epoch >= 0
    check_payload(payload)


def check_payload(payload: bytes) -> None:
    try:
        bounded(lambda: messages.decode(payload))
    except messages.MalformedMessage as exc:
        assert str(exc)


@FUZZ
@given(st.binary(max_size=300))
def test_any_datagram(datagram: bytes) -> None:
    check_open(receiver(), datagram)


@FUZZ
@given(
    st.integers(min_value=0, max_value=255),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(max_size=200),
)
def test_well_formed_headers_with_forged_bodies(flags: int, sender: int, epoch: int, counter: int, body: bytes) -> None:
    header = HEADER.pack(MAGIC, VERSION, flags, CLUSTER, sender % 4, epoch, counter)
    check_open(receiver(), header + body)


@FUZZ
@given(st.lists(st.binary(max_size=MAX_PAYLOAD // 40), min_size=1, max_size=3), st.integers(min_value=2, max_value=3))
def test_authentic_datagrams_with_random_payloads(payloads: list[bytes], sender: int) -> None:
    codec = receiver()
    peer = WireCodec(KEY, CLUSTER, sender, epoch=9, known_senders={1, 2, 3})
    for payload in payloads:
        datagram = peer.seal(payload)
        check_open(codec, datagram)
        try:
            codec.open(datagram)
        except Dropped as exc:
            assert str(exc) == "replay"  # the same datagram twice: refused, whatever it carried
        else:
            raise AssertionError("a replayed datagram was accepted")


@FUZZ
@given(st.binary(max_size=MAX_PAYLOAD))
def test_any_message_payload(payload: bytes) -> None:
    check_payload(payload)
