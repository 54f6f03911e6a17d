"""Pushed configurations are parsed off the event loop, and their effects are still carried out in order."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from quorate.config import ClusterConfig, load_config
from quorate.core.config_dist import Discard, Stage
from quorate.core.node_io import ConfigStaged
from quorate.node import config_files
from quorate.node.config_files import ConfigFiles

CONF = """<?xml version="1.0"?>
<cluster name="magi" config_version="{version}">
  <clusternodes><clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="2"/></clusternodes>
</cluster>
"""


def files_for(tmp_path: Path, reports: list[Any]) -> tuple[ConfigFiles, ClusterConfig]:
    path = tmp_path / "cluster.conf"
    path.write_text(CONF.format(version=1))
    config = load_config(str(path))
    files = ConfigFiles(
        config, 1, current=lambda: config, members=lambda: ["a", "b"], activated=lambda cfg: None,
        report=reports.append, log=lambda text, level: None,
    )  # fmt: skip
    return files, config


def slow_parse_in(monkeypatch: pytest.MonkeyPatch, threads: list[threading.Thread]) -> None:
    real = config_files.parse_config

    def slow(data: bytes, source: str) -> ClusterConfig:
        threads.append(threading.current_thread())
        time.sleep(0.3)
        return real(data, source=source)

    monkeypatch.setattr(config_files, "parse_config", slow)


def test_a_pushed_file_is_parsed_while_the_loop_keeps_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    slow_parse_in(monkeypatch, threads)
    files, _ = files_for(tmp_path, [])

    async def scenario() -> tuple[int, tuple[ClusterConfig | None, str]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        result = await files.check_off_loop(CONF.format(version=2).encode(), members_rule=True)
        task.cancel()
        return ticks, result

    ticks, (candidate, error) = asyncio.run(scenario())
    assert candidate is not None and candidate.config_version == 2 and error == ""
    assert ticks >= 10
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_staging_runs_off_the_loop_and_a_discard_never_overtakes_its_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    slow_parse_in(monkeypatch, threads)
    reports: list[Any] = []
    files, _ = files_for(tmp_path, reports)
    staged = tmp_path / "cluster.conf.staged"

    async def scenario() -> None:
        files.carry_out(Stage(7, 2, "digest", CONF.format(version=2).encode()))
        files.carry_out(Discard(7, "timed out"))
        assert reports == []  # the parse is still running in its thread
        await files.idle()

    asyncio.run(scenario())
    assert reports == [ConfigStaged(7, "digest", True, "")]
    assert not staged.exists()  # written by the stage, then removed by the discard that followed it
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_a_refused_stage_is_reported_with_its_located_problems(tmp_path: Path) -> None:
    reports: list[Any] = []
    files, _ = files_for(tmp_path, reports)

    async def scenario() -> None:
        files.carry_out(Stage(8, 2, "d", CONF.format(version=2).replace('name="b"', 'name="b&#10;x"').encode()))
        await files.idle()

    asyncio.run(scenario())
    assert len(reports) == 1 and not reports[0].ok and "clusternode[2][@name]" in reports[0].error
