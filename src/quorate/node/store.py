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

View generations are reserved ahead (`GENERATIONS_AHEAD`): the file holds a bound above every generation this
node has seen, and a restart starts above that bound. The event loop carries the heartbeats and must not wait
for a disk (an fsync behind a busy file system takes hundreds of milliseconds, seconds on a loaded one), so the
bound is raised in a worker thread once a generation comes within half the reserve of it, long before it is
reached (`generation_write`, `write_pending`). Only a generation beyond the bound on disk (a node that was away
while the cluster went through more view changes than the reserve) is written before the node goes on; that
happens at a join, not in a running view. The price is that a restarted node's first view may number up to
`GENERATIONS_AHEAD` above the last one: generations only have to grow, never to be consecutive.

Only the boot epoch must be written before the daemon goes on (`new_boot` raises). A later write that fails (a
full file system, say) does not stop a running daemon: the values in memory are still right, stopping would
turn a full disk into a failed node, and a restart would refuse to start anyway until the epoch can be written.
The store remembers why (`failure`, for the daemon to log), and every later save writes the whole state again
until one succeeds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from quorate.system.files import write_atomically

DEFAULT_STATE_DIR = Path("/var/lib/quorate")
MAX_STATE_BYTES = 64 * 1024  # the file this daemon writes is well under a kilobyte
U64_MAX = (1 << 64) - 1
ID_MAX = (1 << 32) - 1  # node ids and votes are 32-bit in every message
GENERATIONS_AHEAD = 64  # a write every 32 view changes, off the event loop; a restart skips at most 64


@dataclass(frozen=True)
class LocalState:
    boot_epoch: int = 0
    highest_seq: int = 0
    rejoin_expected: int = 0  # after `cman_tool leave remove`: see Membership.rejoin_expected
    rejoin_awaiting: tuple[int, ...] = ()


class StateStore:
    """Reads and writes `state.json`. ``state`` is what the file holds (durably); ``pending`` what should be
    there. Writes happen one at a time (a lock), from the event loop or from a worker thread."""

    def __init__(self, directory: Path = DEFAULT_STATE_DIR) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "state.json"
        self.state = LocalState()
        self.pending = LocalState()
        self.start_seq = 0  # the bound read at start: this run's views number above it
        self.failure: str | None = None  # why the last save could not be written; None once one succeeds
        self._lock = threading.Lock()

    def load(self) -> LocalState:
        """Read the state; `StateError` (one line: the file, the fault, the way out) if it cannot be trusted."""
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            self.state = LocalState() if data is None else parse_state(data)
        except ValueError as exc:
            raise StateError(
                f"{self.path} is corrupt ({exc}); move it away to start with a fresh state (the next start is "
                "then a new run with a boot epoch from the clock, as with a lost state directory)"
            ) from None
        self.pending, self.start_seq = self.state, self.state.highest_seq
        return self.state

    def new_boot(self) -> int:
        """Pick this run's epoch (strictly above the last one) and persist it, with a reserve of generations above
        the last bound, before any datagram is sent."""
        epoch = max(self.state.boot_epoch + 1, time.time_ns() // 1000)
        bound = min(self.start_seq + GENERATIONS_AHEAD, U64_MAX - 1)
        wanted = replace(self.pending, boot_epoch=epoch, highest_seq=bound)
        with self._lock:
            self._write(wanted)
            self.state = self.pending = wanted
        return epoch

    def generation_write(self, seq: int) -> bool | None:
        """Note generation `seq`, seen or about to be promised. None: the file covers it with room to spare;
        False: raise the bound soon (`write_pending` in a worker); True: the bound is below `seq`, so
        `write_pending` must return before the node goes on (a restart could otherwise number a view `seq`)."""
        bound = self.pending.highest_seq
        if seq + GENERATIONS_AHEAD // 2 > bound:
            self.pending = replace(self.pending, highest_seq=min(seq + GENERATIONS_AHEAD, U64_MAX - 1))
        elif self.failure is None:
            return None
        return seq > self.state.highest_seq

    def save_generation(self, seq: int) -> None:
        """`generation_write` and `write_pending` in one call, in the caller's thread."""
        if self.generation_write(seq) is not None:
            self.write_pending()

    def save_rejoin(self, expected: int, awaiting: frozenset[int]) -> None:
        self.pending = replace(self.pending, rejoin_expected=expected, rejoin_awaiting=tuple(sorted(awaiting)))
        self.write_pending()

    def write_pending(self) -> None:
        """Write what should be in the file, unless it is already there; a failure is kept in ``failure``."""
        with self._lock:
            wanted = self.pending
            if wanted == self.state and self.failure is None:
                return
            try:
                self._write(wanted)
            except OSError as exc:
                self.failure = f"cannot write {self.path}: {exc.strerror or exc}"
            else:
                self.state, self.failure = wanted, None

    def _write(self, state: LocalState) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fields = {"boot_epoch": state.boot_epoch, "highest_seq": state.highest_seq}
        if state.rejoin_expected:
            fields |= {"rejoin_expected": state.rejoin_expected, "rejoin_awaiting": list(state.rejoin_awaiting)}
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
