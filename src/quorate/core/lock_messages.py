"""Wire messages of the cluster lock service (what the DLM's lock master and clvmd exchanged), tags "l?".

Every operation a member sends to the lock master names the view it was sent in, the member's lock id and an
operation number: the master ignores operations of another view, and answers a repeated operation again
instead of doing it twice, so a member may resend until it is answered (datagrams get lost). The master
tags its answers with its view, and a member ignores answers from another view or another master.

Modes travel as small integers (the index in `quorate.core.locks.MODES`); timeouts in milliseconds, -1 for
"wait for ever", 0 for a try-lock; value blocks are raw bytes (at most `quorate.core.lock_modes.LVB_LEN`). This
module does not import `quorate.core.messages` (which imports it for the `Message` union), so a view travels
as a plain (sequence, coordinator) pair.
"""

from __future__ import annotations

import msgspec

NO_MODE = -1
View = tuple[int, int]  # (sequence, coordinator) of a committed view, as in `quorate.core.messages.ViewId`


class LockRequest(msgspec.Struct, frozen=True, array_like=True, tag="lq"):
    """Member to master: a new lock on (lockspace, name) in `mode`."""

    view: View
    lkid: int
    op: int
    lockspace: str
    name: str
    mode: int
    timeout_ms: int


class LockConvert(msgspec.Struct, frozen=True, array_like=True, tag="lc"):
    """Member to master: change a granted lock's mode; `lvb` is written when converting down from PW or EX."""

    view: View
    lkid: int
    op: int
    mode: int
    timeout_ms: int
    lvb: bytes | None = None


class LockUnlock(msgspec.Struct, frozen=True, array_like=True, tag="lu"):
    """Member to master: release (or cancel, if still waiting) a lock; `lvb` as for `LockConvert`."""

    view: View
    lkid: int
    op: int
    lvb: bytes | None = None


class LockGrant(msgspec.Struct, frozen=True, array_like=True, tag="lg"):
    """Master to member: operation `op` on `lkid` is granted in `mode`, with the resource's value block."""

    view: View
    lkid: int
    op: int
    mode: int
    lvb: bytes
    lvb_seq: int


class LockDeny(msgspec.Struct, frozen=True, array_like=True, tag="ld"):
    """Master to member: operation `op` failed (`code`: timeout, busy, deadlock); `mode` is what stays granted."""

    view: View
    lkid: int
    op: int
    code: str
    detail: str = ""
    mode: int = NO_MODE


class LockUnlocked(msgspec.Struct, frozen=True, array_like=True, tag="la"):
    """Master to member: the lock is released (an unlock is answered again if repeated)."""

    view: View
    lkid: int
    op: int


class LockRecover(msgspec.Struct, frozen=True, array_like=True, tag="lr"):
    """Master to member, until answered: send your inventory for recovery number `rid` of this view."""

    view: View
    rid: int


class LockEntry(msgspec.Struct, frozen=True, array_like=True):
    """One lock a member knows it holds or waits for (granted/requested are NO_MODE when none)."""

    lkid: int
    op: int
    lockspace: str
    name: str
    granted: int
    requested: int
    timeout_ms: int
    waited_ms: int
    lvb: bytes
    lvb_seq: int
    releasing: bool = False
    new_lvb: bytes | None = None


class LockInventory(msgspec.Struct, frozen=True, array_like=True, tag="li"):
    """Member to master: part `part` of `parts` of the member's locks (the members' own knowledge)."""

    view: View
    rid: int
    part: int
    parts: int
    entries: tuple[LockEntry, ...]
    unfenced: tuple[int, ...] = ()  # nodes this member knows failed and are not fenced yet: their locks are unknown


class LvmRefresh(msgspec.Struct, frozen=True, array_like=True, tag="lf"):
    """`quorate lvm` changed a VG's metadata: forget cached device hints, read it again, answer with its seqno."""

    req: int
    vg: str


class LvmRefreshed(msgspec.Struct, frozen=True, array_like=True, tag="ly"):
    """A node's answer to `LvmRefresh`: what it now reads for the VG (`detail`), or why it could not."""

    req: int
    ok: bool
    detail: str


class LockTableAsk(msgspec.Struct, frozen=True, array_like=True, tag="lt"):
    """`quorate locks` on a member: the lock master's whole table, as the master itself shows it."""

    req: int


class LockTableIs(msgspec.Struct, frozen=True, array_like=True, tag="lz"):
    """The master's answer to `LockTableAsk`: its table as JSON (what fits in one datagram) and how many
    resources did not fit."""

    req: int
    table: str
    omitted: int = 0


LockMessage = (
    LockRequest
    | LockConvert
    | LockUnlock
    | LockGrant
    | LockDeny
    | LockUnlocked
    | LockRecover
    | LockInventory
    | LvmRefresh
    | LvmRefreshed
    | LockTableAsk
    | LockTableIs
)
LOCK_MESSAGES = (
    LockRequest,
    LockConvert,
    LockUnlock,
    LockGrant,
    LockDeny,
    LockUnlocked,
    LockRecover,
    LockInventory,
    LvmRefresh,
    LvmRefreshed,
    LockTableAsk,
    LockTableIs,
)
