"""What the key rotation core asks of the shell, and what the shell reports back (`quorate.core.key_rotation`).

The keys travel as bytes inside these values: the shell writes them to files and hands them to the wire codec,
the core decides only which key is used for what and when.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorate.core.effects import Log, Send
from quorate.core.messages import KeyGrant, KeyStep, RotationId


@dataclass(frozen=True, slots=True)
class StageKey:
    """Write ``key`` next to the key file (atomically, mode 0600); report `KeyWritten` with step STAGED."""

    rotation: RotationId
    key: bytes


@dataclass(frozen=True, slots=True)
class InstallKey:
    """Replace the key file with ``key`` atomically; report `KeyWritten` with step INSTALLED."""

    rotation: RotationId
    key: bytes


@dataclass(frozen=True, slots=True)
class DiscardKey:
    """Remove the staged copy of an aborted rotation."""

    rotation: RotationId


@dataclass(frozen=True, slots=True)
class UseKeys:
    """The wire codec seals with ``send``, opens with any of ``accept``, and opens key fetches only with
    ``retired``."""

    send: bytes
    accept: tuple[bytes, ...]
    retired: bytes | None = None


@dataclass(frozen=True, slots=True)
class SendRetired:
    """Send ``message`` sealed with the retired key (the answer to a key fetch)."""

    to: tuple[int, ...]
    message: KeyGrant


@dataclass(frozen=True, slots=True)
class FetchDone:
    """The outcome of ``quorate key fetch`` on this node, for the administrator."""

    nonce: int
    ok: bool
    text: str


@dataclass(frozen=True, slots=True)
class KeyWritten:
    """The shell's report: the key was staged or installed (``step``), or why not."""

    rotation: RotationId
    step: KeyStep
    ok: bool
    error: str = ""


KeyEffect = StageKey | InstallKey | DiscardKey | UseKeys | SendRetired | FetchDone | Send | Log
