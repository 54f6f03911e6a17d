"""The DLM's six lock modes, their compatibility table, and the bounds on what a lock request may carry.

Modes, from weakest to strongest: NL (null: holds a place, blocks nobody), CR (concurrent read), CW
(concurrent write), PR (protected read: shared), PW (protected write: one writer, readers in CR), EX
(exclusive). Two locks on one resource may be granted at the same time only if the table says so; it is
the table of the VMS lock manager that the Linux DLM kept:

        NL  CR  CW  PR  PW  EX
    NL  y   y   y   y   y   y
    CR  y   y   y   y   y   n
    CW  y   y   y   n   n   n
    PR  y   y   n   y   n   n
    PW  y   y   n   n   n   n
    EX  y   n   n   n   n   n

A conversion is "down" when the new mode conflicts with no mode the old one did not already conflict with:
it can always be granted at once (EX to PR, PW to CW), whereas PR to CW is not down although CW "looks"
weaker.
"""

from __future__ import annotations

from typing import Final

MODES: Final = ("NL", "CR", "CW", "PR", "PW", "EX")
NL, CR, CW, PR, PW, EX = range(6)
NO_MODE: Final = -1

_Y, _N = True, False
COMPAT: Final = (
    (_Y, _Y, _Y, _Y, _Y, _Y),
    (_Y, _Y, _Y, _Y, _Y, _N),
    (_Y, _Y, _Y, _N, _N, _N),
    (_Y, _Y, _N, _Y, _N, _N),
    (_Y, _Y, _N, _N, _N, _N),
    (_Y, _N, _N, _N, _N, _N),
)

NAME_MAX: Final = 64  # bytes, the DLM's DLM_RESNAME_MAXLEN; lock space names have the same bound
LVB_LEN: Final = 32  # bytes of the lock value block
MAX_TIMEOUT: Final = 7 * 24 * 3600.0
LVB_WRITERS: Final = frozenset({PW, EX})


class LockError(ValueError):
    """A lock operation that cannot be done as asked; the message says why, for the user."""


class NoQuorum(LockError):
    """This node is not in a quorate view: no lock can be granted here now."""


def compatible(a: int, b: int) -> bool:
    return COMPAT[a][b]


def is_down(old: int, new: int) -> bool:
    """Does every mode that conflicts with `new` already conflict with `old`? (Then it is granted at once.)"""
    return all(COMPAT[new][m] or not COMPAT[old][m] for m in range(len(MODES)))


def meet(a: int, b: int) -> int:
    """The strongest mode that both `a` and `b` allow: what a holder may rely on while converting from a to b."""
    return max(m for m in range(len(MODES)) if is_down(a, m) and is_down(b, m))


def parse_mode(text: str | int) -> int:
    if isinstance(text, int) and not isinstance(text, bool) and 0 <= text < len(MODES):
        return text
    key = str(text).strip().upper()
    if key not in MODES:
        raise LockError(f"unknown lock mode {text!r}: use one of {', '.join(MODES)}")
    return MODES.index(key)


def check_name(what: str, name: str) -> str:
    """A lock space or resource name: 1 to 64 bytes of UTF-8 without control characters."""
    if not isinstance(name, str) or not name:
        raise LockError(f"{what} name is empty")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > NAME_MAX:
        raise LockError(f"{what} name is {size} bytes long; the limit is {NAME_MAX} bytes (as in the DLM)")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise LockError(f"{what} name contains control characters")
    return name


def check_lvb(lvb: bytes | None) -> bytes | None:
    if lvb is not None and len(lvb) > LVB_LEN:
        raise LockError(f"lock value block of {len(lvb)} bytes; the limit is {LVB_LEN} bytes")
    return lvb


def check_timeout(timeout: float | None) -> float | None:
    """None waits for ever; 0 is a try-lock (never queued)."""
    if timeout is None:
        return None
    value = float(timeout)
    if not value >= 0 or value > MAX_TIMEOUT:  # also refuses NaN
        raise LockError(f"timeout must be between 0 and {MAX_TIMEOUT:g} seconds, not {timeout!r}")
    return value


def to_ms(timeout: float | None) -> int:
    return -1 if timeout is None else max(0, round(timeout * 1000))


def from_ms(timeout_ms: int) -> float | None:
    return None if timeout_ms < 0 else timeout_ms / 1000.0
