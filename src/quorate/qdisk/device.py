"""Direct, synchronous access to a quorum disk (spec D-1): O_DIRECT on page-aligned mmap buffers.

Theory of operation
-------------------
A quorum disk is shared by machines that do not share a page cache, so every read must come from the
device and every write must reach it before the call returns: the device is opened ``O_DIRECT | O_SYNC``
and all transfers use buffers allocated with anonymous ``mmap`` (page-aligned, which satisfies any logical
block size up to the page size), offsets and lengths that are multiples of the sector size.

One `QdiskDevice` does one transfer at a time: it owns its two buffers. The service runs all of its
transfers in one worker thread, so the calls here may block as long as the disk wants (a hung disk blocks
that thread, never the event loop).

Sector size is the kernel's logical block size (``BLKSSZGET``) for block devices; regular files (tests,
``mkqdisk`` on an image) use 512.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import stat
import struct
from dataclasses import dataclass

from quorate.core.qdisk_block import MAX_NODES, Block
from quorate.qdisk.format import (
    CorruptBlock,
    QuorumHeader,
    decode_header,
    decode_status,
    encode_header,
    encode_status,
    minimum_size,
    slot_size,
    status_offset,
)

BLKSSZGET = 0x1268
FILE_SECTOR_SIZE = 512


class DeviceError(Exception):
    """A device that cannot serve as a quorum disk, with the reason an administrator needs."""


@dataclass
class DeviceInfo:
    path: str
    is_block: bool
    sector_size: int
    size: int


class QdiskDevice:
    """An open quorum-disk device. Not thread-safe: one transfer at a time."""

    def __init__(self, path: str, fd: int, info: DeviceInfo) -> None:
        self.path, self.fd, self.info = path, fd, info
        self.sector_size = info.sector_size
        self.slot = slot_size(self.sector_size)
        self._read_buf = mmap.mmap(-1, self.slot * MAX_NODES)
        self._one_buf = mmap.mmap(-1, self.slot)
        self.closed = False

    @classmethod
    def open(cls, path: str, *, write: bool = True, check_size: bool = True) -> QdiskDevice:
        """Open with direct I/O; `DeviceError` says why a device cannot be used."""
        flags = (os.O_RDWR if write else os.O_RDONLY) | os.O_DIRECT | os.O_SYNC | os.O_CLOEXEC
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DeviceError(f"{path}: no such device") from None
        except OSError as exc:
            raise DeviceError(f"{path}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise DeviceError(f"{path} is a directory, not a block device")
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            if exc.errno == 22:  # EINVAL: the filesystem refuses O_DIRECT (tmpfs)
                raise DeviceError(f"{path}: direct I/O (O_DIRECT) is not supported here") from None
            mode = "read-write" if write else "reading"
            raise DeviceError(f"{path}: cannot open for {mode} with direct I/O: {exc.strerror}") from None
        try:
            is_block = stat.S_ISBLK(st.st_mode)
            sector = FILE_SECTOR_SIZE
            if is_block:
                sector = struct.unpack("i", fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4))[0]
            size = os.lseek(fd, 0, os.SEEK_END)
            info = DeviceInfo(path, is_block, sector, size)
            if check_size and size < minimum_size(sector):
                raise DeviceError(
                    f"{path} is too small for a quorum disk: {size} bytes, at least {minimum_size(sector)} "
                    f"are needed with {sector}-byte sectors (10 MB or more is recommended)"
                )
        except DeviceError:
            os.close(fd)
            raise
        except OSError as exc:
            os.close(fd)
            raise DeviceError(f"{path}: {exc.strerror}") from None
        return cls(path, fd, info)

    # ------------------------------------------------------------- transfers

    def _read(self, buf: mmap.mmap, length: int, offset: int) -> bytes:
        view = memoryview(buf)[:length]
        try:
            got = os.preadv(self.fd, [view], offset)
        finally:
            view.release()
        if got != length:
            raise OSError(5, f"short read at offset {offset}: {got} of {length} bytes (device shrunk or gone?)")
        return bytes(buf[:length])

    def _write(self, sector: bytes, offset: int) -> None:
        buf = self._one_buf
        buf[: len(sector)] = sector
        view = memoryview(buf)[: len(sector)]
        try:
            done = os.pwritev(self.fd, [view], offset)
        finally:
            view.release()
        if done != len(sector):
            raise OSError(5, f"short write at offset {offset}: {done} of {len(sector)} bytes")

    def read_header_sector(self) -> bytes:
        return self._read(self._one_buf, self.slot, 0)[: self.sector_size]

    def read_header(self) -> QuorumHeader:
        """Decoded header, or `CorruptBlock` (not a quorum disk, corrupted)."""
        return decode_header(self.read_header_sector())

    def read_blocks(self) -> dict[int, Block | None]:
        """All 16 status blocks in one transfer; an undecodable block reads as None (silence)."""
        raw = self._read(self._read_buf, self.slot * MAX_NODES, self.slot)
        out: dict[int, Block | None] = {}
        for n in range(1, MAX_NODES + 1):
            start = (n - 1) * self.slot
            try:
                out[n] = decode_status(raw[start : start + self.sector_size])
            except CorruptBlock:
                out[n] = None
        return out

    def read_block_raw(self, nodeid: int) -> bytes:
        return self._read(self._one_buf, self.slot, status_offset(nodeid, self.sector_size))[: self.sector_size]

    def write_block(self, block: Block) -> None:
        self._write(encode_status(block, self.sector_size), status_offset(block.nodeid, self.sector_size))

    def write_header(self, header: QuorumHeader) -> None:
        self._write(encode_header(header, self.sector_size), 0)

    def erase_header(self) -> None:
        """Zero the header sector: a half-written disk must not look like a quorum disk."""
        self._write(b"\0" * self.sector_size, 0)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def __enter__(self) -> QdiskDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_quorum_disk(path: str) -> tuple[QdiskDevice, QuorumHeader]:
    """Open a device for qdisk service: it must carry a quorum header recorded with the kernel's sector size
    (spec D-4, ``device=``). `DeviceError` otherwise, with nothing written."""
    dev = QdiskDevice.open(path)
    try:
        try:
            header = dev.read_header()
        except CorruptBlock as exc:
            raise DeviceError(f"{path} is not a usable quorum disk: {exc} (create one with mkqdisk -c)") from None
        except OSError as exc:
            raise DeviceError(f"{path}: cannot read the quorum header: {exc.strerror or exc}") from None
        if header.sector_size != dev.sector_size:
            raise DeviceError(
                f"{path}: the quorum disk was created with {header.sector_size}-byte sectors but the kernel now "
                f"reports {dev.sector_size}; re-create it with mkqdisk -c"
            )
    except DeviceError:
        dev.close()
        raise
    return dev, header
