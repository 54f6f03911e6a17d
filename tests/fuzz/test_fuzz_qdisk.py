"""Quorum disk sectors: a header or status block, or CorruptBlock; never another error, whatever the bytes.

Random sectors rarely pass the checksums, so payloads are also sealed correctly around random bytes: those reach
the field decoding itself (states, message codes, masks, times). Whatever decodes can be listed by mkqdisk.
"""

from __future__ import annotations

import io

from fuzzing import FUZZ, bounded
from hypothesis import assume, given
from hypothesis import strategies as st

from quorate.cli.mkqdisk import print_info
from quorate.qdisk.format import (
    HEADER_PAYLOAD,
    STATUS_PAYLOAD,
    CorruptBlock,
    decode_header,
    decode_status,
    describe_time,
    seal,
)
from quorate.qdisk.scan import Found

SECTOR = 512
U64 = st.integers(min_value=0, max_value=2**64 - 1)


def sealed(payload: bytes, timestamp: int, view: int) -> bytes:
    try:
        return seal(payload, SECTOR, timestamp=timestamp, view=view)
    except ValueError:  # a checksum of exactly 0: seal refuses it, as the writer would
        assume(False)
        raise


def check(sector: bytes) -> None:
    for decode in (decode_header, decode_status):
        try:
            decoded = bounded(lambda: decode(sector))  # noqa: B023 - called at once
        except CorruptBlock as exc:
            assert str(exc)
            continue
        if decode is decode_header:
            out = io.StringIO()
            print_info(Found("sdx", ["/dev/sdx"], decoded, SECTOR), out)  # type: ignore[arg-type]
            assert "\tCreated:" in out.getvalue()


@FUZZ
@given(st.binary(min_size=0, max_size=SECTOR))
def test_any_sector(sector: bytes) -> None:
    check(sector)


@FUZZ
@given(st.binary(min_size=STATUS_PAYLOAD, max_size=HEADER_PAYLOAD + 8), U64, U64)
def test_sealed_random_payloads(payload: bytes, timestamp: int, view: int) -> None:
    check(sealed(payload, timestamp, view))


@FUZZ
@given(st.integers(min_value=-(2**64), max_value=2**64))
def test_any_recorded_time_can_be_shown(seconds: int) -> None:
    assert bounded(lambda: describe_time(seconds))
