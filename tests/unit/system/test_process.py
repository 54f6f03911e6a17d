"""run_agent holds its bounds whatever the agent does: endless output, escaped descendants, unread input."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from quorate.system.process import MAX_OUTPUT, run_agent


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_endless_output_is_cut_and_the_timeout_holds() -> None:
    before = open_fds()
    start = time.monotonic()
    result = asyncio.run(run_agent(["sh", "-c", "yes >&2 & yes"], timeout=1.0))
    elapsed = time.monotonic() - start
    assert result.timed_out and result.returncode is None
    assert 1.0 <= elapsed < 2.5
    for text in (result.stdout, result.stderr):
        assert text.startswith("y\ny\n")
        assert len(text) < MAX_OUTPUT + 200
        assert "[output cut: " in text and "more bytes were discarded]" in text
    assert open_fds() == before


def _reap(pid_line: str) -> None:
    """Stop the escaped sleeper the agent reported (by its pid only)."""
    try:
        os.kill(int(pid_line), signal.SIGKILL)
    except (ValueError, ProcessLookupError):
        pass


def test_a_descendant_that_leaves_the_session_cannot_hold_the_call_past_its_timeout() -> None:
    before = open_fds()
    start = time.monotonic()
    result = asyncio.run(run_agent(["sh", "-c", "setsid sleep 30 & echo $!; echo started"], timeout=1.0))
    elapsed = time.monotonic() - start
    pid, _, rest = result.stdout.partition("\n")
    _reap(pid)
    assert elapsed < 2.0
    assert result.returncode == 0 and not result.timed_out and rest == "started\n"
    assert open_fds() == before


def test_a_hanging_agent_with_an_escaped_descendant_is_killed_at_its_timeout() -> None:
    start = time.monotonic()
    result = asyncio.run(run_agent(["sh", "-c", "setsid sleep 30 & echo $!; exec sleep 30"], timeout=1.0))
    _reap(result.stdout.strip())
    assert result.timed_out and 1.0 <= time.monotonic() - start < 2.0


def test_input_the_agent_never_reads_does_not_stall_it() -> None:
    start = time.monotonic()
    result = asyncio.run(run_agent(["sh", "-c", "exit 3"], stdin="x" * 1_000_000, timeout=5.0))
    assert result.returncode == 3 and time.monotonic() - start < 2.0
    result = asyncio.run(run_agent(["sleep", "30"], stdin="x" * 1_000_000, timeout=0.5))
    assert result.timed_out


def test_short_output_and_input_pass_unchanged() -> None:
    result = asyncio.run(run_agent(["sh", "-c", "cat; echo oops >&2; exit 1"], stdin="port=3\naction=off\n"))
    assert (result.returncode, result.stdout, result.stderr) == (1, "port=3\naction=off\n", "oops\n")
    assert not result.ok
