"""Byte-exact layout (docs/qdisk-format.md), checksums, torn blocks and direct I/O alignment."""

from __future__ import annotations

import ctypes
import struct
import zlib
from pathlib import Path

import pytest

from quorate.core.qdisk_block import Block, DiskState, Msg, mask_from_bytes, mask_to_bytes
from quorate.qdisk.device import DeviceError, QdiskDevice
from quorate.qdisk.format import (
    CorruptBlock,
    QuorumHeader,
    decode_header,
    decode_status,
    empty_status,
    encode_header,
    encode_status,
    minimum_size,
    slot_size,
    status_offset,
)

BLOCK = Block(
    nodeid=3,
    updatenode=3,
    state=DiskState.MASTER,
    incarnation=0x0123456789ABCDEF,
    seq=77,
    timestamp=1284756951,
    flags=0,
    score=2,
    score_max=3,
    msg=Msg.ACK,
    msg_seq=9,
    msg_arg=1,
    mask=frozenset({1, 2, 3, 9, 16}),
    master_mask=frozenset({1, 3}),
    avg_latency=0.001234,
    last_latency=1.5,
)


def test_status_block_round_trip() -> None:
    assert decode_status(encode_status(BLOCK, 512)) == BLOCK


def test_status_block_bytes_are_where_the_spec_puts_them() -> None:
    raw = encode_status(BLOCK, 512)
    assert len(raw) == 512
    magic, hcrc, dcrc, length, view, ts = struct.unpack_from("<IIIIQQ", raw)  # shared header, little-endian
    assert (magic, length, view, ts) == (0x00DEBB1E, 80, 77, 1284756951)
    assert hcrc == zlib.crc32(raw[:4] + b"\0\0\0\0" + raw[8:32])
    assert dcrc == zlib.crc32(raw[32:112])
    p = raw[32:]
    assert p[0:4] == bytes.fromhex("47bacef8")  # big-endian payload
    assert struct.unpack_from(">IQI", p, 4) == (3, 1284756951, 3)  # updatenode, timestamp, nodeid
    assert p[24] == 6 and struct.unpack_from(">HH", p, 28) == (2, 3)  # state MASTER, score 2/3
    assert struct.unpack_from(">IIII", p, 32) == (0, 1234, 1, 500000)  # average, last latency
    assert struct.unpack_from("<Q", p, 48)[0] == 0x0123456789ABCDEF  # incarnation in host order (quirk)
    assert struct.unpack_from(">HHI", p, 56) == (2, 9, 1)  # ACK, seq 9, for node 1
    assert p[64:72] == bytes([0b00000111, 0b10000001, 0, 0, 0, 0, 0, 0])  # nodes 1,2,3 | 9,16
    assert p[72:80] == bytes([0b00000101, 0, 0, 0, 0, 0, 0, 0])
    assert raw[112:] == b"\0" * 400


def test_quorum_header_bytes() -> None:
    header = QuorumHeader(label="magi_qdisk", host="balthasar", created=1284756951, sector_size=512)
    raw = encode_header(header, 512)
    assert struct.unpack_from("<I", raw, 12)[0] == 272
    p = raw[32:]
    assert struct.unpack_from(">IIQ", p) == (0xEB7A62C2, 0x389FABC4, 1284756951)
    assert p[16:25] == b"balthasar" and p[25] == 0
    assert p[144:154] == b"magi_qdisk" and p[154] == 0
    assert struct.unpack_from(">II", p, 264) == (512, 0)
    assert decode_header(raw) == header


def test_label_limits() -> None:
    with pytest.raises(ValueError):
        encode_header(QuorumHeader(label="x" * 120, host="h", created=1, sector_size=512), 512)
    encode_header(QuorumHeader(label="x" * 119, host="h" * 300, created=1, sector_size=512), 512)


def test_offsets_and_minimum_size() -> None:
    assert [status_offset(n, 512) for n in (1, 2, 16)] == [4096, 8192, 65536]
    assert minimum_size(512) == 73728  # spec D-1
    assert slot_size(4096) == 4096 and slot_size(8192) == 8192
    assert status_offset(1, 8192) == 8192
    with pytest.raises(ValueError):
        status_offset(17, 512)


def test_masks_are_lsb_first() -> None:
    assert mask_to_bytes(frozenset({1})) == b"\x01" + b"\0" * 7
    assert mask_to_bytes(frozenset({8, 9})) == b"\x80\x01" + b"\0" * 6
    assert mask_from_bytes(mask_to_bytes(frozenset(range(1, 17)))) == frozenset(range(1, 17))


@pytest.mark.parametrize(
    ("where", "why"),
    [(3, "no block header"), (20, "header checksum"), (40, "data checksum"), (100, "data checksum")],
)
def test_any_flipped_byte_makes_the_block_unreadable(where: int, why: str) -> None:
    raw = bytearray(encode_status(BLOCK, 512))
    raw[where] ^= 0x40
    with pytest.raises(CorruptBlock, match=why):
        decode_status(bytes(raw))


def test_torn_block_reads_as_corrupt() -> None:
    old = encode_status(BLOCK, 512)
    new = encode_status(Block(3, 3, DiskState.RUN, 5, seq=78, timestamp=1284756954), 512)
    with pytest.raises(CorruptBlock):
        decode_status(new[:64] + old[64:])


def test_zeroed_and_old_format_sectors_are_refused() -> None:
    with pytest.raises(CorruptBlock, match="no block header"):
        decode_header(b"\0" * 512)
    header = QuorumHeader(label="old", host="h", created=1, sector_size=512, magic=0x39119FCD)
    with pytest.raises(CorruptBlock, match=r"1\.2"):
        decode_header(encode_header(header, 512))
    with pytest.raises(CorruptBlock, match="no status block magic"):
        decode_status(encode_header(QuorumHeader("l", "h", 1, 512), 512))


def test_empty_status_is_what_mkqdisk_writes() -> None:
    block = decode_status(encode_status(empty_status(5, 99), 512))
    assert (block.nodeid, block.updatenode, block.state, block.timestamp) == (5, 0, DiskState.NONE, 99)


# ------------------------------------------------------------------ device I/O on a regular file


def test_buffers_are_page_aligned(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (1 << 20))
    with QdiskDevice.open(str(image)) as dev:
        for buf in (dev._read_buf, dev._one_buf):
            assert ctypes.addressof(ctypes.c_char.from_buffer(buf)) % 4096 == 0
        assert dev.sector_size == 512 and dev.slot == 4096


def test_write_and_read_blocks_with_direct_io(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (1 << 20))
    with QdiskDevice.open(str(image)) as dev:
        dev.write_block(BLOCK)
        dev.write_block(empty_status(1, 5))
        blocks = dev.read_blocks()
    assert blocks[3] == BLOCK and blocks[1] is not None and blocks[1].state is DiskState.NONE
    assert blocks[2] is None  # never written: reads as silence
    data = image.read_bytes()
    assert data[3 * 4096 : 3 * 4096 + 512] == encode_status(BLOCK, 512)  # only its own sector was written
    assert data[3 * 4096 + 512 : 4 * 4096] == b"\0" * (4096 - 512)


def test_torn_block_on_disk_reads_as_none(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (1 << 20))
    with QdiskDevice.open(str(image)) as dev:
        dev.write_block(BLOCK)
    with open(image, "r+b") as fh:
        fh.seek(3 * 4096 + 60)
        fh.write(b"\xff\xff")
    with QdiskDevice.open(str(image)) as dev:
        assert dev.read_blocks()[3] is None


def test_too_small_and_missing_devices_are_refused(tmp_path: Path) -> None:
    small = tmp_path / "small.img"
    small.write_bytes(b"\0" * 65536)
    with pytest.raises(DeviceError, match=r"too small .* 65536 bytes, at least 73728"):
        QdiskDevice.open(str(small))
    with pytest.raises(DeviceError, match="no such device"):
        QdiskDevice.open(str(tmp_path / "absent"))
    with pytest.raises(DeviceError, match="directory"):
        QdiskDevice.open(str(tmp_path))
