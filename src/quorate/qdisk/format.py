"""Byte-exact quorum-disk layout (docs/qdisk-format.md): encode and decode sectors.

Theory of operation
-------------------
Every sector written is a 32-byte *shared header* (little-endian, as the original wrote it on x86) with two
CRC-32s, followed by a payload (big-endian fields) and zero padding up to the sector size ``S``. Region
offsets use the slot size ``B = max(4096, S)``: the quorum header at 0, node n's status block at
``B + (n - 1) * B``, 16 nodes, one spare slot; the disk must hold at least ``18 * B`` bytes.

Decoding is strict because a torn or stale sector must never be taken for a live node: a bad shared magic,
either CRC, a length that does not fit or a wrong payload magic all make the sector unreadable
(`CorruptBlock`), which the core treats as silence for that node.

Deliberate additions to the original, readable by an original qdiskd (it ignores them):
- ``h_view`` carries the writer's write counter (the original wrote 0), so that liveness works with
  sub-second intervals;
- ``ps_score``/``ps_scoremax`` carry the writer's heuristic score (the original wrote 0), so that
  ``quorate status`` and ``mkqdisk -d`` can show every node's score.
``ps_incarnation`` is stored little-endian, the original's host order on x86 (quirk kept for compatibility).
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

from quorate.core.qdisk_block import MAX_NODES, Block, DiskState, Msg, mask_from_bytes, mask_to_bytes

SHARED_MAGIC = 0x00DEBB1E
HEADER_MAGIC = 0xEB7A62C2
HEADER_MAGIC_OLD = 0x39119FCD  # RHCS 3 / Cluster Manager 1.2 disks: refused
VERSION_MAGIC_V2 = 0x389FABC4
STATUS_MAGIC = 0x47BACEF8

_SHARED = struct.Struct("<IIIIQQ")  # magic, hcrc, dcrc, length, view, timestamp
_HEADER = struct.Struct(">IIQ128s120sII")  # magic, version, timestamp, host, label, blksz, kernsz
_STATUS_A = struct.Struct(">IIQIIBBHHHIIII")  # up to ps_lc_usec, 48 bytes
_STATUS_INC = struct.Struct("<Q")  # ps_incarnation, host order (quirk)
_STATUS_B = struct.Struct(">HHI8s8s")  # msg, seq, arg, mask, master_mask
STATUS_PAYLOAD = _STATUS_A.size + _STATUS_INC.size + _STATUS_B.size
HEADER_PAYLOAD = _HEADER.size
SHARED_SIZE = _SHARED.size
LABEL_MAX = 119  # char[120], NUL-terminated
HOST_MAX = 127  # char[128], NUL-terminated

assert SHARED_SIZE == 32 and HEADER_PAYLOAD == 272 and STATUS_PAYLOAD == 80


class CorruptBlock(ValueError):
    """A sector that does not decode: torn write, stale data, or not a quorum disk at all."""


def slot_size(sector_size: int) -> int:
    """``B``: the space each region takes (a whole sector when sectors exceed 4 KiB)."""
    return max(4096, sector_size)


def status_offset(nodeid: int, sector_size: int) -> int:
    if not 1 <= nodeid <= MAX_NODES:
        raise ValueError(f"node id {nodeid} outside 1..{MAX_NODES}")
    return slot_size(sector_size) * nodeid


def minimum_size(sector_size: int) -> int:
    """Bytes a device needs: header slot, 16 status slots and one spare (73,728 with 512-byte sectors)."""
    return slot_size(sector_size) * (MAX_NODES + 2)


# ------------------------------------------------------------------ shared header


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def seal(payload: bytes, sector_size: int, *, timestamp: int, view: int = 0) -> bytes:
    """Shared header + payload, zero-padded to one sector. A CRC of exactly 0 is refused (as qdiskd did)."""
    if SHARED_SIZE + len(payload) > sector_size:
        raise ValueError("payload does not fit in one sector")
    dcrc = _crc(payload)
    if dcrc == 0:
        raise ValueError("CRC-32 of the data is 0, which readers take for a generation error; write again")
    fields = [SHARED_MAGIC, 0, dcrc, len(payload), view & (2**64 - 1), timestamp & (2**64 - 1)]
    hcrc = _crc(_SHARED.pack(*fields))
    if hcrc == 0:
        raise ValueError("CRC-32 of the header is 0, which readers take for a generation error; write again")
    fields[1] = hcrc
    return (_SHARED.pack(*fields) + payload).ljust(sector_size, b"\0")


def unseal(sector: bytes) -> tuple[bytes, int, int]:
    """(payload, view, timestamp) of a sector, or `CorruptBlock` saying what is wrong with it."""
    if len(sector) < SHARED_SIZE:
        raise CorruptBlock("short sector")
    magic, hcrc, dcrc, length, view, timestamp = _SHARED.unpack_from(sector)
    if magic != SHARED_MAGIC:
        raise CorruptBlock(f"no block header (magic {magic:08x}, expected {SHARED_MAGIC:08x})")
    if _crc(_SHARED.pack(magic, 0, dcrc, length, view, timestamp)) != hcrc or hcrc == 0:
        raise CorruptBlock("block header checksum mismatch")
    if length > len(sector) - SHARED_SIZE:
        raise CorruptBlock(f"payload length {length} does not fit in the sector")
    payload = bytes(sector[SHARED_SIZE : SHARED_SIZE + length])
    if _crc(payload) != dcrc or dcrc == 0:
        raise CorruptBlock("data checksum mismatch (torn or stale write)")
    return payload, view, timestamp


# ------------------------------------------------------------------ quorum header


@dataclass(frozen=True, slots=True)
class QuorumHeader:
    label: str
    host: str
    created: int
    sector_size: int  # recorded at creation
    magic: int = HEADER_MAGIC
    version: int = VERSION_MAGIC_V2


def describe_time(seconds: int) -> str:
    """A recorded time (seconds since the epoch) as ``ctime`` prints it, or ``invalid (N)``: a header or block
    written by another tool, or damaged, can hold any 64-bit value, and listing the disk must still work."""
    try:
        return time.ctime(seconds)
    except (OverflowError, ValueError, OSError):
        return f"invalid ({seconds})"


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def encode_header(header: QuorumHeader, sector_size: int) -> bytes:
    label, host = header.label.encode(), header.host.encode()[:HOST_MAX]
    if not label or len(label) > LABEL_MAX or b"\0" in label:
        raise ValueError(f"a label is 1 to {LABEL_MAX} bytes without NUL")
    payload = _HEADER.pack(header.magic, header.version, header.created, host, label, header.sector_size, 0)
    return seal(payload, sector_size, timestamp=header.created)


def decode_header(sector: bytes) -> QuorumHeader:
    """The quorum header, or `CorruptBlock` explaining why this is not a usable quorum disk."""
    payload, _view, _ts = unseal(sector)
    if len(payload) < _HEADER.size:
        raise CorruptBlock(f"quorum header payload too short ({len(payload)} bytes)")
    magic, version, created, host, label, blksz, _kern = _HEADER.unpack_from(payload)
    if magic == HEADER_MAGIC_OLD:
        raise CorruptBlock("an old Red Hat Cluster Manager 1.2 quorum partition (not supported; re-create it)")
    if magic != HEADER_MAGIC:
        raise CorruptBlock(f"no quorum disk magic (found {magic:08x}, expected {HEADER_MAGIC:08x})")
    return QuorumHeader(_cstr(label), _cstr(host), created, blksz, magic, version)


# ------------------------------------------------------------------ status blocks


def _split_latency(seconds: float) -> tuple[int, int]:
    seconds = max(0.0, min(seconds, 4e9))
    whole = int(seconds)
    return whole, min(round((seconds - whole) * 1e6), 999_999)


def encode_status(block: Block, sector_size: int) -> bytes:
    ca, lc = _split_latency(block.avg_latency), _split_latency(block.last_latency)
    payload = (
        _STATUS_A.pack(
            STATUS_MAGIC,
            block.updatenode,
            block.timestamp,
            block.nodeid,
            0,
            int(block.state),
            0,
            block.flags,
            block.score,
            block.score_max,
            *ca,
            *lc,
        )
        + _STATUS_INC.pack(block.incarnation & (2**64 - 1))
        + _STATUS_B.pack(
            int(block.msg),
            block.msg_seq & 0xFFFF,
            block.msg_arg,
            mask_to_bytes(block.mask),
            mask_to_bytes(block.master_mask),
        )
    )
    return seal(payload, sector_size, timestamp=block.timestamp, view=block.seq)


def decode_status(sector: bytes) -> Block:
    payload, view, _ts = unseal(sector)
    if len(payload) < STATUS_PAYLOAD:
        raise CorruptBlock(f"status block payload too short ({len(payload)} bytes)")
    magic, update, ts, nodeid, _pad, state, _p1, flags, score, smax, ca_s, ca_u, lc_s, lc_u = _STATUS_A.unpack_from(
        payload
    )
    if magic != STATUS_MAGIC:
        raise CorruptBlock(f"no status block magic (found {magic:08x})")
    try:
        disk_state = DiskState(state)
        (inc,) = _STATUS_INC.unpack_from(payload, _STATUS_A.size)
        msg, seq, arg, mask, master = _STATUS_B.unpack_from(payload, _STATUS_A.size + _STATUS_INC.size)
        message = Msg(msg)
    except ValueError as exc:
        raise CorruptBlock(f"status block with an impossible value: {exc}") from None
    return Block(
        nodeid=nodeid,
        updatenode=update,
        state=disk_state,
        incarnation=inc,
        seq=view,
        timestamp=ts,
        flags=flags,
        score=score,
        score_max=smax,
        msg=message,
        msg_seq=seq,
        msg_arg=arg,
        mask=mask_from_bytes(mask),
        master_mask=mask_from_bytes(master),
        avg_latency=ca_s + ca_u / 1e6,
        last_latency=lc_s + lc_u / 1e6,
    )


def empty_status(nodeid: int, timestamp: int) -> Block:
    """What ``mkqdisk -c`` writes for every node: state NONE, written by nobody (updatenode 0)."""
    return Block(nodeid=nodeid, updatenode=0, state=DiskState.NONE, incarnation=0, timestamp=timestamp)
