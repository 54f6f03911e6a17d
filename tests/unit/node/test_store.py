"""The daemon's state file: what a restart must not forget (boot epoch, highest view, a pending leave-remove)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from quorate.node.store import StateError, StateStore


def test_state_survives_a_restart_and_the_rejoin_record_is_cleared(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "q")
    store.load()
    first = store.new_boot()
    store.save_generation(12)
    store.save_rejoin(8, frozenset({2, 1}))
    assert stat.S_IMODE((tmp_path / "q" / "state.json").stat().st_mode) == 0o600

    again = StateStore(tmp_path / "q")
    state = again.load()
    assert (state.highest_seq, state.rejoin_expected, state.rejoin_awaiting) == (12, 8, (1, 2))
    assert again.new_boot() > first  # a restart never reuses a boot epoch
    again.save_rejoin(0, frozenset())
    assert "rejoin_expected" not in json.loads((tmp_path / "q" / "state.json").read_text())
    assert StateStore(tmp_path / "q").load().rejoin_expected == 0


def test_a_corrupt_state_file_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"boot_epoch": 3, "rejoin_awaiting": 5}')
    with pytest.raises(StateError, match=r"state.json is corrupt .*move it away"):
        StateStore(tmp_path).load()
