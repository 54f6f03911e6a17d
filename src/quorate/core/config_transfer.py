"""Moving a configuration file in datagrams: chunks, and reassembly checked against the file's SHA-256.

Theory of operation
-------------------
A cluster.conf may be far larger than a datagram, so a file (at most `MAX_FILE_BYTES`) travels as numbered chunks
(`quorate.core.config_messages`): each names what the transfer is for (a push to the coordinator, a stage on the
members, a fetch by a node catching up), the transfer's number, the file's version and SHA-256, its index and
the number of chunks. A receiver gathers them per sender, purpose and transfer number; the file exists only once
every chunk is in and the bytes hash to the announced digest, so a corrupt or mixed file is dropped whole and
never used. Nobody asks for a missing chunk: every sender repeats its whole file until it is answered, and a
repeated chunk is harmless.

A flood of half files cannot grow memory: at most `MAX_ASSEMBLIES` transfers are gathered at once, a chunk count
beyond the file limit is ignored, and a half file older than `ASSEMBLY_TTL` seconds is dropped.

Heartbeats carry the first 16 hex digits of a file's digest (`short`): enough to tell two files apart, while the
full hash checks the bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from quorate.core.config_messages import CHUNK_BYTES, CfgChunk

MAX_FILE_BYTES = 1 << 20
ASSEMBLY_TTL = 30.0
MAX_ASSEMBLIES = 8


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def short(digest: str) -> str:
    """The 16 hex digits heartbeats carry (enough to tell two files apart; the full hash checks the bytes)."""
    return digest[:16]


def chunks(purpose: str, tx: int, version: int, digest: str, data: bytes) -> list[CfgChunk]:
    pieces = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    return [CfgChunk(purpose, tx, version, digest, i, len(pieces), p) for i, p in enumerate(pieces)]


def plausible(chunk: CfgChunk) -> bool:
    """A chunk of a file within the size limit, with an index inside its count."""
    return chunk.total * CHUNK_BYTES <= MAX_FILE_BYTES + CHUNK_BYTES and 0 <= chunk.index < chunk.total


@dataclass
class Assembly:
    """The chunks of one file received so far."""

    version: int
    digest: str
    total: int
    started: float
    chunks: dict[int, bytes] = field(default_factory=dict)

    def add(self, chunk: CfgChunk) -> bytes | None:
        """The whole file once every chunk is in and its hash matches (b"" if it does not); None while incomplete."""
        self.chunks[chunk.index] = chunk.data
        if len(self.chunks) < self.total:
            return None
        data = b"".join(self.chunks[i] for i in range(self.total))
        return data if digest_of(data) == self.digest else b""


class Reassembly:
    """Every file being gathered, by (sender, purpose, transfer number)."""

    def __init__(self) -> None:
        self.assemblies: dict[tuple[int, str, int], Assembly] = {}

    def add(self, now: float, sender: int, chunk: CfgChunk) -> bytes | None:
        """The file this chunk completes; b"" when its bytes do not match its digest; None otherwise (incomplete,
        or no room for another file)."""
        key = (sender, chunk.purpose, chunk.tx)
        assembly = self.assemblies.get(key)
        if assembly is None or (assembly.version, assembly.digest, assembly.total) != (
            chunk.version,
            chunk.digest,
            chunk.total,
        ):
            if len(self.assemblies) >= MAX_ASSEMBLIES:
                return None  # bounded: a flood of half files cannot grow memory
            assembly = self.assemblies[key] = Assembly(chunk.version, chunk.digest, chunk.total, now)
        data = assembly.add(chunk)
        if data is not None:
            del self.assemblies[key]
        return data

    def expire(self, now: float) -> None:
        for key, assembly in list(self.assemblies.items()):
            if now >= assembly.started + ASSEMBLY_TTL:
                del self.assemblies[key]

    def deadlines(self) -> list[float]:
        return [a.started + ASSEMBLY_TTL for a in self.assemblies.values()]
