"""Local durable state under /var/lib/quorate: the boot epoch and the highest view generation seen.

Why: a restarted daemon must never reuse a view generation (two different member sets would then share one
view id), and its datagrams must carry an epoch higher than any earlier run so that peers accept the new
counters and drop replays of the old ones. Both are persisted with the classic temporary-file, fsync,
rename, fsync-directory sequence, so a power cut leaves either the old or the new value, never a torn file.
The epoch is also kept above the wall clock in microseconds, so a lost state directory still yields an
epoch larger than the last run's on any machine whose clock moves forward.

A state file that cannot be trusted (not JSON, not an object, a value that is not a plain integer, Infinity,
a number out of range such as an epoch that could not be raised once more within the wire's 64 bits, nesting
or size beyond any file this daemon writes) is refused with one line naming the file and the fault, and the
daemon exits with its configuration-error status. Guessing values out of a damaged file could reuse an epoch
or a generation, and discarding it silently would hide the damage; the message gives the way out instead:
move the file away, and the next start is a new run, its epoch taken from the wall clock and its view
generations from what it hears, exactly as with a lost state directory.

Only the boot epoch must be written before the daemon goes on (`new_boot` raises). A later write that fails (a
full file system, say) does not stop a running daemon: the values in memory are still right, stopping would
turn a full disk into a failed node, and a restart would refuse to start anyway until the epoch can be written.
The store remembers why (`failure`, for the daemon to log), and every later save writes the whole state again
until one succeeds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from quorate.system.files import write_atomically

DEFAULT_STATE_DIR = Path("/var/lib/quorate")
MAX_STATE_BYTES = 64 * 1024  # the file this daemon writes is well under a kilobyte
U64_MAX = (1 << 64) - 1
ID_MAX = (1 << 32) - 1  # node ids and votes are 32-bit in every message


@dataclass
class LocalState:
    boot_epoch: int = 0
    highest_seq: int = 0
    rejoin_expected: int = 0  # after `cman_tool leave remove`: see Membership.rejoin_expected
    rejoin_awaiting: tuple[int, ...] = ()


class StateStore:
    """Reads and writes `state.json`; every write is durable before it returns."""

    def __init__(self, directory: Path = DEFAULT_STATE_DIR) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "state.json"
        self.state = LocalState()
        self.failure: str | None = None  # why the last save could not be written; None once one succeeds

    def load(self) -> LocalState:
        """Read the state; `StateError` (one line: the file, the fault, the way out) if it cannot be trusted."""
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            self.state = LocalState()
            return self.state
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            self.state = parse_state(data)
        except ValueError as exc:
            raise StateError(
                f"{self.path} is corrupt ({exc}); move it away to start with a fresh state (the next start is "
                "then a new run with a boot epoch from the clock, as with a lost state directory)"
            ) from None
        return self.state

    def new_boot(self) -> int:
        """Pick this run's epoch (strictly above the last one) and persist it before any datagram is sent."""
        epoch = max(self.state.boot_epoch + 1, time.time_ns() // 1000)
        self.state.boot_epoch = epoch
        self._write()
        return epoch

    def save_generation(self, seq: int) -> None:
        if seq > self.state.highest_seq or self.failure is not None:
            self.state.highest_seq = max(seq, self.state.highest_seq)
            self._save()

    def save_rejoin(self, expected: int, awaiting: frozenset[int]) -> None:
        self.state.rejoin_expected, self.state.rejoin_awaiting = expected, tuple(sorted(awaiting))
        self._save()

    def _save(self) -> None:
        try:
            self._write()
        except OSError as exc:
            self.failure = f"cannot write {self.path}: {exc.strerror or exc}"
        else:
            self.failure = None

    def _write(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = self.state
        fields = {"boot_epoch": st.boot_epoch, "highest_seq": st.highest_seq}
        if st.rejoin_expected:
            fields |= {"rejoin_expected": st.rejoin_expected, "rejoin_awaiting": list(st.rejoin_awaiting)}
        write_atomically(self.path, json.dumps(fields).encode(), mode=0o600)


class StateError(Exception):
    """The state directory holds something this daemon cannot trust."""


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number this file can hold")


def _integer(raw: dict[str, object], field: str, high: int) -> int:
    value = raw.get(field, 0)
    if type(value) is not int:  # bool is an int subclass, floats would be rounded: both refused
        raise ValueError(f"{field} is {type(value).__name__}, not an integer")
    if not 0 <= value <= high:
        raise ValueError(f"{field} {value} is outside 0..{high}")
    return value


def parse_state(data: bytes) -> LocalState:
    """The state in `data`, or ValueError saying what is wrong with it."""
    if len(data) > MAX_STATE_BYTES:
        raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        raw = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(raw, dict):
        raise ValueError(f"a JSON {type(raw).__name__}, not an object")
    awaiting = raw.get("rejoin_awaiting", [])
    if not isinstance(awaiting, list) or len(awaiting) > ID_MAX:
        raise ValueError("rejoin_awaiting is not a list of node ids")
    nodes = tuple(_integer({"rejoin_awaiting": n}, "rejoin_awaiting", ID_MAX) for n in awaiting)
    return LocalState(
        # the next run takes this epoch + 1, which must still fit in the wire header's 64 bits
        _integer(raw, "boot_epoch", U64_MAX - 1),
        _integer(raw, "highest_seq", U64_MAX - 1),
        _integer(raw, "rejoin_expected", ID_MAX),
        nodes,
    )
