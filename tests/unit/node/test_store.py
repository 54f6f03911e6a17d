"""The daemon's state file: what a restart must not forget (boot epoch, highest view, a pending leave-remove)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from quorate.node.store import GENERATIONS_AHEAD, StateError, StateStore


def test_state_survives_a_restart_and_the_rejoin_record_is_cleared(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "q")
    store.load()
    first = store.new_boot()
    store.save_generation(12)
    store.save_rejoin(8, frozenset({2, 1}))
    assert stat.S_IMODE((tmp_path / "q" / "state.json").stat().st_mode) == 0o600

    again = StateStore(tmp_path / "q")
    state = again.load()
    assert (state.rejoin_expected, state.rejoin_awaiting) == (8, (1, 2))
    assert again.start_seq == state.highest_seq >= 12  # this run's views number above every one seen before
    assert again.new_boot() > first  # a restart never reuses a boot epoch
    again.save_rejoin(0, frozenset())
    assert "rejoin_expected" not in json.loads((tmp_path / "q" / "state.json").read_text())
    assert StateStore(tmp_path / "q").load().rejoin_expected == 0


def test_a_corrupt_state_file_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"boot_epoch": 3, "rejoin_awaiting": 5}')
    with pytest.raises(StateError, match=r"state.json is corrupt .*move it away"):
        StateStore(tmp_path).load()



@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"boot_epoch": Infinity}', "Infinity is not a number"),
        ('{"boot_epoch": 1e400}', "boot_epoch is float, not an integer"),
        ('{"highest_seq": NaN}', "NaN is not a number"),
        ("[" * 20_000 + "]" * 20_000, "nested too deeply"),
        ('{"boot_epoch": 18446744073709551615}', "boot_epoch 18446744073709551615 is outside 0..18446744073709551614"),
        ('{"boot_epoch": -1}', "boot_epoch -1 is outside"),
        ('{"boot_epoch": true}', "boot_epoch is bool, not an integer"),
        ('{"highest_seq": "12"}', "highest_seq is str, not an integer"),
        ('{"rejoin_awaiting": [1, [2]]}', "rejoin_awaiting is list, not an integer"),
        ("[1, 2]", "a JSON list, not an object"),
        ("{", "Expecting property name"),
        (" " * 70_000 + "{}", "larger than 65536 bytes"),
        (b"\xff\xfe{}", "not UTF-8 text"),
    ],
)
def test_a_state_file_that_cannot_be_trusted_is_refused_with_the_way_out(
    tmp_path: Path, content: str | bytes, why: str
) -> None:
    path = tmp_path / "state.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(StateError) as info:
        StateStore(tmp_path).load()
    message = str(info.value)
    assert message.startswith(f"{path} is corrupt (") and why in message
    assert "move it away to start with a fresh state" in message and "\n" not in message
    path.rename(tmp_path / "state.json.bad")  # the way out: the next start is a new run
    store = StateStore(tmp_path)
    assert store.load().boot_epoch == 0
    assert 0 < store.new_boot() < (1 << 64) - 1


def test_the_largest_epoch_that_can_still_be_raised_is_kept(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"boot_epoch": (1 << 64) - 2, "highest_seq": 5}))
    store = StateStore(tmp_path)
    assert store.load().boot_epoch == (1 << 64) - 2
    assert store.new_boot() == (1 << 64) - 1


def test_an_unreadable_state_path_is_a_located_refusal(tmp_path: Path) -> None:
    (tmp_path / "state.json").mkdir()
    with pytest.raises(StateError, match=r"cannot read .*state.json: Is a directory"):
        StateStore(tmp_path).load()


def test_a_full_disk_does_not_stop_the_daemon_and_the_next_save_writes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from quorate.node import store as store_module

    store = StateStore(tmp_path)
    store.load()
    store.new_boot()
    store.save_generation(4)
    real = store_module.write_atomically

    def full(*args: object, **kwargs: object) -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module, "write_atomically", full)
    store.save_generation(GENERATIONS_AHEAD + 9)  # beyond the reserve: no exception, the daemon runs on
    assert store.failure == f"cannot write {tmp_path / 'state.json'}: No space left on device"
    assert StateStore(tmp_path).load().highest_seq == GENERATIONS_AHEAD
    monkeypatch.setattr(store_module, "write_atomically", real)
    store.save_generation(GENERATIONS_AHEAD + 9)  # the same generation again: written now, since the last failed
    assert store.failure is None
    assert StateStore(tmp_path).load().highest_seq >= GENERATIONS_AHEAD + 9
    with pytest.raises(OSError):  # the boot epoch is still written before anything else, or the start fails
        monkeypatch.setattr(store_module, "write_atomically", full)
        store.new_boot()


def test_generations_are_reserved_ahead_so_a_running_view_change_never_waits_for_the_disk(tmp_path: Path) -> None:
    """The file holds a bound above every generation seen; it is raised (in a worker, by the daemon) half a
    reserve before it is reached, and only a generation beyond the bound on disk must be written first."""
    store = StateStore(tmp_path)
    store.load()
    store.new_boot()
    assert StateStore(tmp_path).load().highest_seq == GENERATIONS_AHEAD  # reserved with the epoch, at start
    writes = []
    for seq in range(1, 10 * GENERATIONS_AHEAD):
        urgent = store.generation_write(seq)
        assert urgent is not True, f"generation {seq} reached the bound on disk"
        if urgent is False:
            writes.append(seq)
            store.write_pending()  # what the daemon's worker thread does
        assert StateStore(tmp_path).load().highest_seq >= seq
    assert len(writes) == 10 * 2 - 1  # one write per half reserve, not one per view change
    # a node back after many view changes elsewhere: that generation is beyond the bound and must be written now
    assert store.generation_write(100 * GENERATIONS_AHEAD) is True
    store.write_pending()
    assert StateStore(tmp_path).load().highest_seq >= 100 * GENERATIONS_AHEAD


def test_a_restart_numbers_its_views_above_the_bound_even_if_the_last_write_was_lost(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.load()
    store.new_boot()
    for seq in range(1, GENERATIONS_AHEAD):  # the daemon crashed with the raised bound still in its worker
        store.generation_write(seq)
    again = StateStore(tmp_path)
    again.load()
    assert again.start_seq == GENERATIONS_AHEAD > GENERATIONS_AHEAD - 1  # above every generation the last run saw


def test_writes_from_a_worker_and_from_the_loop_never_lower_the_bound(tmp_path: Path) -> None:
    import threading

    store = StateStore(tmp_path)
    store.load()
    store.new_boot()
    workers = []
    for seq in range(1, 40 * GENERATIONS_AHEAD, 7):
        if store.generation_write(seq) is not None:
            worker = threading.Thread(target=store.write_pending)
            worker.start()
            workers.append(worker)
    for worker in workers:
        worker.join()
    store.write_pending()
    assert StateStore(tmp_path).load().highest_seq == store.pending.highest_seq >= 40 * GENERATIONS_AHEAD - 7
