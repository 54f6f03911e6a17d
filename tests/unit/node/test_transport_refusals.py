"""What the transport says about a configured node whose datagrams do not authenticate: once, with what to do."""

from __future__ import annotations

import logging

import pytest

from quorate.node.transport import Transport
from quorate.node.wire import WireCodec

OLD = b"o" * 64
NEW = b"n" * 64


def receiver(retired: bytes | None = None) -> tuple[Transport, list[tuple[int, bytes]]]:
    codec = WireCodec(NEW, 7, 1, 10, {1, 2, 3})
    if retired is not None:
        codec.use_keys(NEW, (NEW,), retired)
    fetched: list[tuple[int, bytes]] = []

    def retired_payload(sender: int, _epoch: int, payload: bytes) -> None:
        fetched.append((sender, payload))

    transport = Transport(codec, {1: "10.0.0.1", 2: "10.0.0.2"}, 5405, lambda *_: None, deliver_retired=retired_payload)
    return transport, fetched


def test_a_node_on_another_key_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    transport, fetched = receiver()
    peer = WireCodec(OLD, 7, 2, 20, {1})
    with caplog.at_level(logging.WARNING, logger="quorated"):
        for _ in range(3):
            transport.datagram_received(peer.seal(b"hb"), ("10.0.0.2", 5405))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "node id 2 (10.0.0.2) do not authenticate" in said[0] and "quorate key fetch" in said[0]
    assert transport.codec.drops["auth_failed"] == 3 and not fetched


def test_a_forged_header_from_another_address_names_nobody(caplog: pytest.LogCaptureFixture) -> None:
    transport, _ = receiver()
    peer = WireCodec(OLD, 7, 2, 20, {1})
    with caplog.at_level(logging.WARNING, logger="quorated"):
        transport.datagram_received(peer.seal(b"hb"), ("10.9.9.9", 5405))
    assert not caplog.records


def test_the_retired_key_hands_the_payload_to_the_fetch_handler_only(caplog: pytest.LogCaptureFixture) -> None:
    transport, fetched = receiver(retired=OLD)
    peer = WireCodec(OLD, 7, 2, 20, {1})
    with caplog.at_level(logging.WARNING, logger="quorated"):
        transport.datagram_received(peer.seal(b"fetch"), ("10.0.0.2", 5405))
    assert fetched == [(2, b"fetch")]
    assert "still uses the cluster key that a rotation retired" in caplog.records[0].getMessage()
