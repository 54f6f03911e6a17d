"""Local durable state under /var/lib/quorate: the boot epoch and the highest view generation seen.

Why: a restarted daemon must never reuse a view generation (two different member sets would then share one
view id), and its datagrams must carry an epoch higher than any earlier run so that peers accept the new
counters and drop replays of the old ones. Both are persisted with the classic temporary-file, fsync,
rename, fsync-directory sequence, so a power cut leaves either the old or the new value, never a torn file.
The epoch is also kept above the wall clock in microseconds, so a lost state directory still yields an
epoch larger than the last run's on any machine whose clock moves forward.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from quorate.system.files import write_atomically

DEFAULT_STATE_DIR = Path("/var/lib/quorate")


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

    def load(self) -> LocalState:
        try:
            raw = json.loads(self.path.read_text())
            self.state = LocalState(
                int(raw.get("boot_epoch", 0)),
                int(raw.get("highest_seq", 0)),
                int(raw.get("rejoin_expected", 0)),
                tuple(int(n) for n in raw.get("rejoin_awaiting", ())),
            )
        except FileNotFoundError:
            self.state = LocalState()
        except (ValueError, TypeError, AttributeError) as exc:
            raise StateError(f"{self.path} is corrupt ({exc}); move it away to start with a fresh state") from None
        return self.state

    def new_boot(self) -> int:
        """Pick this run's epoch (strictly above the last one) and persist it before any datagram is sent."""
        epoch = max(self.state.boot_epoch + 1, time.time_ns() // 1000)
        self.state.boot_epoch = epoch
        self._write()
        return epoch

    def save_generation(self, seq: int) -> None:
        if seq > self.state.highest_seq:
            self.state.highest_seq = seq
            self._write()

    def save_rejoin(self, expected: int, awaiting: frozenset[int]) -> None:
        self.state.rejoin_expected, self.state.rejoin_awaiting = expected, tuple(sorted(awaiting))
        self._write()

    def _write(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = self.state
        fields = {"boot_epoch": st.boot_epoch, "highest_seq": st.highest_seq}
        if st.rejoin_expected:
            fields |= {"rejoin_expected": st.rejoin_expected, "rejoin_awaiting": list(st.rejoin_awaiting)}
        write_atomically(self.path, json.dumps(fields).encode(), mode=0o600)


class StateError(Exception):
    """The state directory holds something this daemon cannot trust."""
