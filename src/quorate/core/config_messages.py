"""Wire messages of configuration distribution (what ccsd exchanged for `ccs_tool update`), tags "c?".

A cluster.conf may be far larger than one datagram (the cap is 8000 bytes), so files travel as numbered
chunks, each carrying the file's version and SHA-256 so that chunks of two files never mix. Every message is
idempotent: a sender repeats it until answered, a receiver answers a repeat again.
"""

from __future__ import annotations

from typing import Final

import msgspec

CHUNK_BYTES: Final = 6000
PURPOSE_PUSH: Final = "push"  # requester -> coordinator: the file an administrator wants activated
PURPOSE_STAGE: Final = "stage"  # coordinator -> members: validate and stage this file
PURPOSE_FETCH: Final = "fetch"  # a member -> a lagging node: the file the cluster runs


class CfgChunk(msgspec.Struct, frozen=True, array_like=True, tag="cc"):
    """One piece of a file; ``tx`` is the push's id (the requester's request number for ``push``)."""

    purpose: str
    tx: int
    version: int
    digest: str
    index: int
    total: int
    data: bytes


class CfgStaged(msgspec.Struct, frozen=True, array_like=True, tag="cs"):
    """A member's answer to a staged file: validated and written aside (ok), or refused and why.

    The digest ties the answer to one file: a transaction number alone may repeat after a coordinator restarts.
    """

    tx: int
    digest: str
    ok: bool
    error: str = ""


class CfgCommit(msgspec.Struct, frozen=True, array_like=True, tag="cm"):
    """Every member staged the file: activate it."""

    tx: int
    version: int
    digest: str


class CfgAbort(msgspec.Struct, frozen=True, array_like=True, tag="ca"):
    """A member refused or went silent: drop the staged file, keep running the old one."""

    tx: int
    reason: str


class CfgResult(msgspec.Struct, frozen=True, array_like=True, tag="cr"):
    """The coordinator's answer to a requester's push (``done`` False: received, still in progress)."""

    req: int
    done: bool
    ok: bool
    text: str


class CfgFetch(msgspec.Struct, frozen=True, array_like=True, tag="cf"):
    """A node behind the cluster asks a quorate member for the file it runs."""

    version: int
    digest: str


ConfigMessage = CfgChunk | CfgStaged | CfgCommit | CfgAbort | CfgResult | CfgFetch
