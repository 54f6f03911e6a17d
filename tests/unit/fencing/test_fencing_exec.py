"""fence_once with real agent programs: method order, AND inside a method, and every way an agent can fail."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fencing_samples import ARTICLE, config_with, device, method

from quorate.config import load_config
from quorate.node.fence_exec import ACK_REASON, FenceOutcome, fence_once

Agents = Callable[..., Path]


def fence(config, victim: str, **kwargs) -> FenceOutcome:  # type: ignore[no-untyped-def]
    return asyncio.run(fence_once(config, victim, **kwargs))


def test_first_method_fails_then_second_succeeds(agents: Agents, tmp_path: Path) -> None:
    agents("fence_bad", 'cat >/dev/null; echo "Failed: Unable to connect/login to fencing device" >&2; exit 1\n')
    agents("fence_good", f'cat > {tmp_path}/good.in; echo "Success: Powered OFF"; exit 0\n')
    config = config_with(
        {"b": method("ipmi", "bad") + method("netns", "good")},
        device("bad", "fence_bad", passwd="pw1") + device("good", "fence_good", passwd="pw2"),
    )
    outcome = fence(config, "b")
    assert outcome.success and outcome.method == "netns"
    assert [(a.method, a.device, a.agent, a.returncode, a.ok) for a in outcome.attempts] == [
        ("ipmi", "bad", "fence_bad", 1, False),
        ("netns", "good", "fence_good", 0, True),
    ]
    assert "Unable to connect" in (outcome.attempts[0].error or "")
    assert outcome.reason.startswith("fenced b.example with method netns (fence_good, ")
    assert outcome.reason.endswith(" s)")
    assert (tmp_path / "good.in").read_text() == "nodename=b.example\nagent=fence_good\npasswd=pw2\n"


def test_all_methods_failing_gives_one_sentence_naming_each(agents: Agents) -> None:
    agents("fence_ipmilan", 'echo "Failed: Unable to connect" >&2; exit 1\n')
    agents("fence_other", "exit 1\n")
    config = config_with(
        {"c": method("ipmi", "i") + method("netns", "n")},
        device("i", "fence_ipmilan") + device("n", "fence_other"),
    )
    outcome = fence(config, "c")
    assert not outcome.success and outcome.method is None
    assert outcome.reason == (
        "all 2 methods failed for c.example: ipmi: fence_ipmilan exited 1 (Failed: Unable to connect); "
        "netns: fence_other exited 1"
    )


def test_every_device_of_a_method_must_succeed_and_the_first_failure_aborts_it(agents: Agents, tmp_path: Path) -> None:
    agents("fence_one", f"cat >/dev/null; touch {tmp_path}/one; exit 0\n")
    agents("fence_two", "cat >/dev/null; exit 1\n")
    agents("fence_three", f"cat >/dev/null; touch {tmp_path}/three; exit 0\n")
    config = config_with(
        {"a": method("dual", "one", "two", "three")},
        device("one", "fence_one") + device("two", "fence_two") + device("three", "fence_three"),
    )
    outcome = fence(config, "a")
    assert not outcome.success
    assert [a.device for a in outcome.attempts] == ["one", "two"]
    assert (tmp_path / "one").exists() and not (tmp_path / "three").exists()
    assert outcome.reason == "method dual failed for a.example: dual: fence_two exited 1"


def test_no_method_and_unknown_node() -> None:
    config = config_with({}, "")
    outcome = fence(config, "a")
    assert not outcome.success and outcome.attempts == ()
    assert outcome.reason == "no fence method configured for a.example"
    assert "not a node of cluster t" in fence(config, "zz").reason


def test_missing_and_non_executable_agents_fail_clearly(agents: Agents) -> None:
    agents("fence_noexec", "exit 0\n", mode=0o644)
    config = config_with(
        {"a": method("m1", "missing") + method("m2", "noexec")},
        device("missing", "fence_does_not_exist") + device("noexec", "fence_noexec"),
    )
    outcome = fence(config, "a")
    assert not outcome.success
    first, second = outcome.attempts
    assert first.returncode is None and first.error == "fence_does_not_exist: not found"
    assert second.returncode is None and second.error == "fence_noexec: not executable"


def _processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
                state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker.encode() in cmdline and state != "Z":
                found.append(int(name))
    return found


def test_a_hung_agent_times_out_and_its_whole_process_group_dies(agents: Agents) -> None:
    marker = f"9{uuid.uuid4().int % 10**8}"  # a unique sleep length marks our processes
    agents("fence_hang", f"sleep {marker} &\nsleep {marker}\n")
    config = config_with({"a": method("m", "hang")}, device("hang", "fence_hang"))
    start = time.monotonic()
    outcome = fence(config, "a", timeout=0.5)
    assert time.monotonic() - start < 5
    attempt = outcome.attempts[0]
    assert not outcome.success and attempt.timed_out and attempt.returncode is None
    assert re.fullmatch(r"fence_hang timed out after 0\.\d s and was killed", attempt.error or "")
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker) == []


def test_garbage_output_with_an_unknown_exit_code_is_a_failure(agents: Agents) -> None:
    agents("fence_garbage", "printf '\\001\\377\\376garbage\\033[31m\\n'; echo 'Success: Powered OFF'; exit 7\n")
    config = config_with({"a": method("m", "g")}, device("g", "fence_garbage"))
    outcome = fence(config, "a")
    attempt = outcome.attempts[0]
    assert not outcome.success and attempt.returncode == 7
    assert (attempt.error or "").startswith("fence_garbage exited 7 (not a fence-agent exit code)")
    assert all(ch.isprintable() or ch in "\n\t" for ch in attempt.output_tail)
    assert "\x1b" not in attempt.output_tail and "\x01" not in attempt.output_tail


def test_an_agent_killed_by_a_signal_failed(agents: Agents) -> None:
    agents("fence_killed", "kill -9 $$\n")
    config = config_with({"a": method("m", "k")}, device("k", "fence_killed"))
    outcome = fence(config, "a")
    assert not outcome.success and outcome.attempts[0].error == "fence_killed was killed by signal 9"


def test_status_two_means_off_only_for_status(agents: Agents) -> None:
    agents("fence_off", "cat >/dev/null; echo 'Status: OFF'; exit 2\n")
    config = config_with({"a": method("m", "o")}, device("o", "fence_off"))
    assert fence(config, "a", action="status").success
    assert not fence(config, "a").success  # 2 from off/reboot is a failure


def test_secrets_never_reach_the_log_or_the_output_tail(agents: Agents, caplog: pytest.LogCaptureFixture) -> None:
    agents(
        "fence_echo", "while read line; do echo \"Parse error: Ignoring unknown option '$line'\" >&2; done; exit 1\n"
    )
    config = config_with({"a": method("m", "e")}, device("e", "fence_echo", login="root", passwd="TopSecret99"))
    with caplog.at_level(logging.DEBUG, logger="quorate.fence"):
        outcome = fence(config, "a")
    assert "TopSecret99" not in caplog.text and "passwd=***" in caplog.text
    assert "TopSecret99" not in outcome.attempts[0].output_tail and "passwd=***" in outcome.attempts[0].output_tail
    assert "TopSecret99" not in outcome.reason


def test_unfencing_passes_action_on(agents: Agents, tmp_path: Path) -> None:
    agents("fence_rec", f"cat > {tmp_path}/in; exit 0\n")
    config = config_with({"a": method("m", "r")}, device("r", "fence_rec"))
    outcome = fence(config, "a", action="on")
    assert outcome.success and outcome.reason.startswith("unfenced a.example with method m")
    assert (tmp_path / "in").read_text().splitlines()[0] == "action=on"


def test_manual_fencing_waits_for_the_acknowledgement() -> None:
    config = load_config(ARTICLE)
    acked: list[str] = []

    async def ack() -> None:
        await asyncio.sleep(0.05)
        acked.append("yes")

    outcome = fence(config, "casper", manual_ack=ack)
    assert acked == ["yes"] and outcome.success and outcome.method == "single"
    attempt = outcome.attempts[0]
    assert attempt.agent == "fence_manual" and attempt.returncode == 0 and attempt.output_tail == ACK_REASON
    assert outcome.reason.startswith(f"fenced casper.localdomain with method single (fence_manual, {ACK_REASON}, ")


def test_manual_fencing_without_an_acknowledgement_channel_fails() -> None:
    outcome = fence(load_config(ARTICLE), "casper")
    assert not outcome.success and "fence_ack_manual" in outcome.reason


def test_cancelling_a_manual_wait_propagates() -> None:
    async def main() -> None:
        task = asyncio.create_task(fence_once(load_config(ARTICLE), "casper", manual_ack=asyncio.Event().wait))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_cancelling_a_running_agent_kills_it(agents: Agents) -> None:
    marker = f"8{uuid.uuid4().int % 10**8}"
    agents("fence_slow", f"sleep {marker}\n")
    config = config_with({"a": method("m", "s")}, device("s", "fence_slow"))

    async def main() -> None:
        task = asyncio.create_task(fence_once(config, "a"))
        await asyncio.sleep(0.3)
        assert _processes_with(marker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The loop goes on, as the daemon's does, and collects the killed agent.
        deadline = time.monotonic() + 5
        while _processes_with(marker) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)

    asyncio.run(main())
    assert _processes_with(marker) == []
