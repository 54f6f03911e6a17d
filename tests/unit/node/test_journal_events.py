"""The daemon's decision log (E-1..E-3): events stamped with the wall clock, logged, journaled, counted, and the
`timeline` request answered (or refused with the valid names)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from quorate.core.node_core import NodeCore
from quorate.node import protocol
from quorate.node.journal import read_events
from quorate.node.journal_events import DecisionLog
from quorate.sim.stack import default_services, stack_settings

NAMES = ("balthasar.localdomain", "casper.localdomain", "melchior.localdomain")


def _config() -> SimpleNamespace:
    nodes = [SimpleNamespace(name=name, nodeid=i) for i, name in enumerate(NAMES, start=1)]

    def node_by_name(name: str) -> SimpleNamespace | None:
        return next((n for n in nodes if name in (n.name, n.name.split(".")[0])), None)

    return SimpleNamespace(nodes=nodes, node_by_name=node_by_name)


def test_events_are_stamped_logged_journaled_counted_answered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    core = NodeCore(stack_settings(3, default_services(3)).settings(2, b""), boot=5, now=100.0)
    core.handle_timer(103.0)  # alone, casper installs a view of its own
    lines: list[str] = []
    decisions = DecisionLog(tmp_path, log_line=lambda text, level: lines.append(text),
                            logger=logging.getLogger("quorated-test"))  # fmt: skip

    async def scenario() -> tuple[protocol.Answer, ...]:
        decisions.start(core, NAMES[1], lambda to, data: None)
        before = time.time()
        with caplog.at_level(logging.INFO, logger="quorated-test"):
            decisions.flush(core, 103.0)  # the loop's clock reads the events' time: they happened "now"
        assert all(before - 1 <= e["at"] <= time.time() + 1 for e in decisions.recent)
        answers = []
        for request in (
            protocol.Timeline(since=int(before) - 60),
            protocol.Timeline(since=int(before) - 60, kind="votes", json=True),
            protocol.Timeline(node="adam"),
            protocol.Timeline(service="nosuch"),
            protocol.Timeline(kind="weather"),
        ):
            answers.append(await decisions.answer(request, config=_config(), core=core, local_id=2))  # type: ignore[arg-type]
        await decisions.close()
        return tuple(answers)

    every, votes, bad_node, bad_service, bad_kind = asyncio.run(scenario())
    kinds = [e["kind"] for e in decisions.recent]
    assert kinds == ["view", "votes"] and decisions.counts[("view", "installed")] == 1
    assert "event view view 1 installed (view 1): Q-1: view 1 installed with {casper.localdomain}" in caplog.text
    assert [e.kind for e in read_events(tmp_path / "journal.sqlite")[0]] == ["view", "votes"]
    assert every.ok and "  casper  view view 1 installed (view 1): Q-1:" in every.text
    assert votes.ok and '"kind": "votes"' in votes.text and '"kind": "view"' not in votes.text
    assert not bad_node.ok and bad_node.error == f"unknown node 'adam' (nodes: {', '.join(NAMES)})"
    assert not bad_service.ok and bad_service.error == "unknown service 'nosuch' (services: db, test, web)"
    assert not bad_kind.ok and "unknown kind 'weather'" in (bad_kind.error or "")
    assert lines == []  # nothing went wrong with the journal
