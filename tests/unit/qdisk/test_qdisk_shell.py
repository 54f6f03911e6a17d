"""The asyncio service on an image file (direct I/O works on the test filesystem): heuristics through
run_agent, start-up failures, status; and the heuristic books on their own."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import pytest
from qdisk_service import QdiskService, QdiskStartError

from quorate.cli.mkqdisk import main as mkqdisk
from quorate.core.effects import Log
from quorate.core.qdisk import QdiskEffect, SetVotes, StopCman
from quorate.core.qdisk_config import HeuristicParams, QdiskParams
from quorate.core.qdisk_score import HeuristicTracker


def image(tmp_path: Path, label: str = "unit_qdisk") -> str:
    path = tmp_path / "qdisk.img"
    with open(path, "wb") as fh:
        fh.truncate(1 << 20)
    assert mkqdisk(["-c", str(path), "-l", label, "-y"], out=io.StringIO(), err=io.StringIO()) == 0
    return str(path)


async def run_alone(config: QdiskParams, device: str | None, seconds: float) -> tuple[list[QdiskEffect], dict]:
    effects: list[QdiskEffect] = []
    service = QdiskService(
        config, 1, (1,), device, on_effects=effects.extend, get_membership=lambda: (frozenset({1}), True)
    )
    await service.start()
    try:
        await asyncio.sleep(seconds)
        status = service.status()
    finally:
        await service.stop()
    return effects, status


def texts(effects: list[QdiskEffect]) -> list[str]:
    return [e.text for e in effects if isinstance(e, Log)]


def test_single_node_becomes_master_with_a_passing_heuristic(tmp_path: Path) -> None:
    config = QdiskParams.derived(interval=0.1, tko=4, votes=1, heuristics=(HeuristicParams("true", interval=0.1),))
    effects, status = asyncio.run(run_alone(config, image(tmp_path), 2.0))
    assert "Heuristic: 'true' UP" in texts(effects)
    assert SetVotes(1, "I am the quorum disk master") in effects
    assert status["state"] == "Master" and status["score"] == 1 and status["score_max"] == 1
    assert status["io"]["last_error"] is None and status["io"]["pending_for"] is None
    json.dumps(status)
    assert "Clean shutdown: writing state NONE (logout)" in texts(effects)


def test_status_file_shows_the_disk_as_this_node_sees_it(tmp_path: Path) -> None:
    dump = tmp_path / "qdisk.status"
    config = QdiskParams.derived(interval=0.1, tko=4, votes=1, status_file=str(dump))
    asyncio.run(run_alone(config, image(tmp_path), 3.0))
    text = dump.read_text()
    assert "Node ID: 1\n" in text and "Score: 1/1 (Minimum required = 1)" in text
    assert "Master Node ID: 1\n" in text and "Quorate Set: { 1 }" in text
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # replaced by a rename


def test_status_file_that_cannot_be_written_is_logged_not_fatal(tmp_path: Path) -> None:
    config = QdiskParams.derived(interval=0.1, tko=4, votes=1, status_file=str(tmp_path / "missing" / "qdisk.status"))
    effects, status = asyncio.run(run_alone(config, image(tmp_path), 3.0))
    assert status["state"] == "Master"
    warnings = [t for t in texts(effects) if "cannot write status_file" in t]
    assert len(warnings) == 1 and "No such file or directory" in warnings[0]


def test_a_slow_status_file_write_does_not_hold_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An fsync behind a busy disk can take seconds; the loop that writes the status file also carries the
    heartbeats, so the write goes to a worker and a cycle that finds it still going skips."""
    from quorate.qdisk import status_file

    real, calls = status_file.write, []

    def slow(path: str, status: dict) -> None:
        calls.append(time.monotonic())
        time.sleep(0.6)
        real(path, status)

    monkeypatch.setattr(status_file, "write", slow)
    dump = tmp_path / "qdisk.status"
    config = QdiskParams.derived(interval=0.1, tko=4, votes=1, status_file=str(dump))

    async def measured() -> float:
        worst, last = 0.0, time.monotonic()

        async def tick() -> None:
            nonlocal worst, last
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                worst, last = max(worst, now - last), now

        ticker = asyncio.get_running_loop().create_task(tick())
        await run_alone(config, image(tmp_path), 2.0)
        ticker.cancel()
        return worst

    worst = asyncio.run(measured())
    assert "Master Node ID: 1" in dump.read_text()
    assert 2 <= len(calls) <= 5  # one write at a time: about 2 s / 0.6 s, not one per 0.1 s cycle
    assert worst < 0.4, f"the loop stood still {worst:.2f} s"


def test_failing_heuristic_keeps_the_node_unfit(tmp_path: Path) -> None:
    heuristics = (HeuristicParams("true", interval=0.1), HeuristicParams("exit 3", interval=0.1))
    config = QdiskParams.derived(interval=0.1, tko=4, votes=1, heuristics=heuristics)  # required 2 of 2
    effects, status = asyncio.run(run_alone(config, image(tmp_path), 1.5))
    assert not [e for e in effects if isinstance(e, SetVotes) and e.votes > 0]
    assert status["score"] == 1 and status["score_required"] == 2 and status["votes"] == 0
    assert any(t.startswith("Score insufficient after initialisation (1/2; required=2)") for t in texts(effects))


def test_device_found_by_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = image(tmp_path, "by_label")
    from quorate.qdisk import shell
    from quorate.qdisk.format import QuorumHeader
    from quorate.qdisk.scan import Found

    def fake_find(label: str, timeout: float) -> Found:
        assert label == "by_label"
        return Found("loopX", [path], QuorumHeader(label, "h", 0, 512), 512)

    monkeypatch.setattr(shell, "find_label", fake_find)
    config = QdiskParams.derived(interval=0.1, tko=4, votes=1, label="by_label")
    _, status = asyncio.run(run_alone(config, None, 0.3))
    assert status["device"] == path and status["label"] == "by_label"


def test_start_fails_clearly_and_stop_cman_asks_to_leave(tmp_path: Path) -> None:
    blank = tmp_path / "blank.img"
    with open(blank, "wb") as fh:
        fh.truncate(1 << 20)
    effects: list[QdiskEffect] = []
    config = QdiskParams.derived(interval=0.1, tko=4, votes=1, stop_cman=True)
    service = QdiskService(
        config, 1, (1,), str(blank), on_effects=effects.extend, get_membership=lambda: (frozenset({1}), True)
    )
    with pytest.raises(QdiskStartError, match="not a usable quorum disk: no block header"):
        asyncio.run(service.start())
    assert any(isinstance(e, StopCman) for e in effects)
    missing = QdiskService(
        QdiskParams.derived(interval=0.1, tko=4, votes=1, label="no_such_label_anywhere"),
        1,
        (1,),
        on_effects=effects.extend,
        get_membership=lambda: (frozenset({1}), True),
        scan_timeout=2.0,
    )
    with pytest.raises(QdiskStartError, match="Unable to match label 'no_such_label_anywhere' to any device"):
        asyncio.run(missing.start())


def test_heuristic_books() -> None:
    tracker = HeuristicTracker([HeuristicParams("ping gw", score=2, interval=1.0, tko=2), HeuristicParams("x")])
    assert tracker.score() == (0, 3)  # unavailable until a first success
    assert tracker.due(0.0) == [0, 1]
    tracker.started(0, 0.0)
    assert tracker.due(0.5) == [1] and tracker.due(1.0) == [1]  # still running: not started twice
    assert tracker.finished(0, 0.2, True) == [Log("Heuristic: 'ping gw' UP")]
    assert tracker.score() == (2, 3)
    tracker.started(0, 1.0)
    assert tracker.finished(0, 1.1, False, "exit status 1") == [Log("Heuristic: 'ping gw' missed (1/2): exit status 1")]
    assert tracker.score() == (2, 3)
    tracker.started(0, 2.0)
    assert tracker.finished(0, 2.1, False)[0].text == "Heuristic: 'ping gw' DOWN (2/2)"
    assert tracker.score() == (0, 3)
    assert HeuristicTracker([]).score() == (1, 1)


def test_stop_is_bounded_even_if_never_started() -> None:
    service = QdiskService(
        QdiskParams.derived(interval=0.1, tko=4, votes=1),
        1,
        (1,),
        "/nonexistent",
        on_effects=lambda e: None,
        get_membership=lambda: (frozenset(), False),
    )
    start = time.monotonic()
    asyncio.run(service.stop())
    assert time.monotonic() - start < 0.5
