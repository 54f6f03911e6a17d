"""quorated says when its event loop ran a timer much later than asked: the heartbeats were late by as much."""

from __future__ import annotations

from types import SimpleNamespace

from quorate.core.membership_types import MembershipConfig
from quorate.node.daemon import Daemon


def bare_daemon(token: float, lines: list[str]) -> Daemon:
    daemon = Daemon.__new__(Daemon)
    config = MembershipConfig(nodes=(), expected_votes=1, token=token)
    daemon.core = SimpleNamespace(membership=SimpleNamespace(config=config))  # type: ignore[assignment]
    daemon.late_timers = 0
    daemon._late_after = 2 * config.heartbeat_interval
    daemon.log_line = lambda text, level="info": lines.append(f"{level}: {text}")  # type: ignore[method-assign]
    return daemon


def test_a_timer_run_two_heartbeat_intervals_late_is_said_with_the_figures() -> None:
    lines: list[str] = []
    daemon = bare_daemon(3.0, lines)  # heartbeats every 0.6 s
    daemon._timer_due = 100.0
    daemon._check_lateness(100.9)  # 0.9 s late: within two intervals, nothing said
    assert lines == [] and daemon.late_timers == 0
    daemon._check_lateness(102.84)
    assert daemon.late_timers == 1
    assert lines == [
        "warning: quorated was not scheduled for 2840 ms (warning above 1200 ms): its heartbeats were late by as "
        "much, and peers evict a node silent for 3000 ms (token); look for a blocked disk or starved CPUs"
    ]
