"""The later `quorate chaos` scenarios without a testbed: their plans, the evidence checks they add, and the
switchable fence agent they fence through (no root needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from quorate.agents import fence_chaos
from quorate.node.fence_runner import FENCE_AGENT_TIMEOUT
from quorate.testbed import chaos_checks as checks
from quorate.testbed.chaos_bed import FENCE_MODE, HANG_STATUS, STATUS_TIMEOUT, init_script, write_conf
from quorate.testbed.chaos_faults import ACTIONS
from quorate.testbed.chaos_plan import SCENARIOS, plan

B, C = "balthasar.localdomain", "casper.localdomain"
NEW = (
    "loss-30", "fence-fails", "fence-hangs", "fence-second-method", "status-hangs", "push-during-restart",
    "coordinator-off", "clock-forward", "clock-backward", "state-dir-full", "started-twice", "wrong-key",
)  # fmt: skip
ENGINE_ACTIONS = {
    "power_off", "power_on", "kill", "pause", "resume", "freeze", "thaw", "partition", "one_way", "heal",
    "fail_start", "fail_stop", "relocate", "restart", "push_config",
}  # fmt: skip


# --------------------------------------------------------------------------------------------------- plans


def test_there_are_twenty_four_scenarios_and_every_step_has_a_doer() -> None:
    assert len(SCENARIOS) >= 24 and set(NEW) <= set(SCENARIOS)
    for name in SCENARIOS:
        for step in plan(name, 11, 1, 3).steps:
            assert step.action in ENGINE_ACTIONS | set(ACTIONS), (name, step)


def test_loss_drops_thirty_percent_on_one_node_for_about_twenty_seconds() -> None:
    loss, heal = plan("loss-30", 4, 1, 3).steps
    assert loss.action == "loss" and loss.args[1] == 30 and 18 <= loss.pause <= 22 and heal.action == "heal"


def test_fence_scenarios_fail_the_owner_wait_for_the_trouble_then_for_the_fence() -> None:
    for name, mode in (("fence-fails", "fail"), ("fence-hangs", "first-hangs"), ("fence-second-method", "first-fails")):
        steps = plan(name, 2, 1, 3).steps
        assert [s.action for s in steps] == ["fence_mode", "kill", "expect_log", "fence_mode", "expect_log"], name
        assert steps[0].args == (mode,) and steps[1].args == (0,) and steps[3].args == ("",)
        assert steps[-1].args[0] == "fence of {node} confirmed"
    failed = plan("fence-hangs", 2, 1, 3).steps[2]
    assert failed.args[0] == "fence {node}: method first, device chaos-first (fence_chaos): failed"
    assert failed.args[2] > FENCE_AGENT_TIMEOUT  # the agent must outlive its deadline before fencing may work again


def test_clock_jumps_never_touch_the_services_owner_and_end_at_real_time() -> None:
    for seed in range(10):
        for name, offset in (("clock-forward", 3600), ("clock-backward", -3600)):
            steps = plan(name, seed, 1, 3).steps
            victim = steps[0].args[0]
            assert victim != 0
            assert [s.args for s in steps if s.action == "clock_jump"] == [(victim, offset), (victim, 0)]
            assert steps[-1].action == "expect_no_fence"


def test_the_full_state_directory_is_checked_while_full_and_after_it_is_freed() -> None:
    actions = [s.action for s in plan("state-dir-full", 5, 1, 3).steps]
    assert actions.index("disk_full") < actions.index("expect_full_said") < actions.index("disk_free")
    assert actions.index("disk_free") < actions.index("expect_persisted")


# ------------------------------------------------------------------------------------------- the chaos bed


def test_the_bed_fences_by_two_wrapped_methods_and_enforces_the_status_timeout(tmp_path: Path) -> None:
    text = write_conf(tmp_path, "/dev/loop7", token_ms=1000, period=1.0).read_text()
    assert text.count('<method name="first">') == 3 and text.count('<method name="second">') == 3
    assert f'chaos_method="second" mode_file="{tmp_path / FENCE_MODE}"' in text
    assert 'agent="fence_netns"' not in text
    assert '__enforce_timeouts="1"' in text and f'timeout="{STATUS_TIMEOUT}"' in text
    assert f"if [ -e {HANG_STATUS} ]; then sleep 900; fi" in init_script(tmp_path / "prog")
    done = subprocess.run(
        [sys.executable, "-m", "quorate.cli.main", "config", "validate", str(tmp_path / "cluster.conf")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


# ------------------------------------------------------------------------------------------- the agent


def test_the_agent_fails_hangs_or_forwards_as_its_mode_file_says(tmp_path: Path) -> None:
    mode = tmp_path / "mode"
    options = {"action": "off", "nodename": C, "passwd": "s", "mode_file": str(mode), "chaos_method": "first"}
    forwarded: list[str] = []

    def forward(text: str) -> int:
        forwarded.append(text)
        return 0

    errors: list[str] = []
    assert fence_chaos.run(options, errors.append, forward) == 0  # no file: forward
    assert forwarded == [f"action=off\nnodename={C}\npasswd=s\n"]
    mode.write_text("first-fails\n")
    assert fence_chaos.run(options, errors.append, forward) == 1 and "failing on purpose" in errors[-1]
    assert fence_chaos.run({**options, "chaos_method": "second"}, errors.append, forward) == 0
    mode.write_text("fail")
    assert fence_chaos.run({**options, "chaos_method": "second"}, errors.append, forward) == 1
    mode.write_text("hang")

    class Killed(Exception):
        pass

    def sleep(_seconds: float) -> None:
        raise Killed  # what the caller's deadline does to a hung agent

    with pytest.raises(Killed):
        fence_chaos.run(options, errors.append, forward, sleep=sleep)
    mode.write_text("first-hangs")
    with pytest.raises(Killed):
        fence_chaos.run(options, errors.append, forward, sleep=sleep)
    assert fence_chaos.run({**options, "chaos_method": "second"}, errors.append, forward) == 0
    assert len(forwarded) == 3


def test_the_agent_reads_fence_agent_input_keeping_what_it_does_not_know() -> None:
    text = "# comment\naction = off\nport=casper\npower-timeout=5\nmode_file=/x\nbad line\n"
    assert fence_chaos.parse_input(text) == {"action": "off", "port": "casper", "power_timeout": "5", "mode_file": "/x"}


# ------------------------------------------------------------------------------------------ the evidence


def test_a_fence_during_a_fault_that_must_evict_nobody_is_a_violation() -> None:
    logs = {
        B: "2026-03-01 12:00:04.500 quorated[9]: fence of casper.localdomain scheduled: missed the token\n",
        C: "2026-03-01 11:00:04.500 quorated[9]: fence of balthasar.localdomain confirmed: off\n",
    }
    found = checks.quiet_violations(logs, since=checks._stamp("2026-03-01 12:00:00"))
    assert found == [f"{B} fenced during a fault that must evict nobody: fence of {C} scheduled: missed the token"]


def test_full_disk_and_persisted_state_evidence() -> None:
    assert checks.full_disk_violations(B, True, True) == []
    assert len(checks.full_disk_violations(B, False, False)) == 2
    assert checks.persisted_violations(B, 12, 12) == []
    assert checks.persisted_violations(B, 10, 12) == [
        f"{B} did not persist its view generation 12 once space was freed (the state file holds 10)"
    ]


def test_a_second_daemon_must_refuse_and_leave_the_first_running() -> None:
    said = "quorated: UDP port 5405 on 0.0.0.0 is in use: another quorated (or corosync) is running"
    assert checks.second_daemon_violations(B, 100, said, 41, 41) == []
    assert checks.second_daemon_violations(B, None, "", 41, 41)[0].startswith("a second quorated on")
    assert "did not survive" in checks.second_daemon_violations(B, 100, said, 41, None)[0]
    assert "without saying" in checks.second_daemon_violations(B, 1, "Traceback", 41, 41)[0]


def test_a_node_with_the_wrong_key_is_alone_dropped_and_starts_nothing() -> None:
    assert checks.wrong_key_violations(B, True, {C: 14}, []) == []
    found = checks.wrong_key_violations(B, False, {C: 0}, [checks._stamp("2026-03-01 12:00:01")])
    assert len(found) == 3 and f"{C} counted no dropped datagram" in found[1]


# ------------------------------------------------------------------------------------------- quorum disk


def test_the_quorum_disk_bed_gives_the_disk_one_vote_at_each_nodes_own_path(tmp_path: Path) -> None:
    from quorate.testbed.chaos_plan import QDISK_SCENARIOS
    from quorate.testbed.chaos_qdisk import LINK

    text = write_conf(tmp_path, "/dev/loop7", token_ms=1000, period=1.0, qdisk=True).read_text()
    assert text.count("<quorumd") == 1 and f'votes="1" device="{LINK}"' in text and "label=" not in text
    assert 'expected_votes="4"' in text
    assert "<quorumd" not in write_conf(tmp_path, "/dev/loop7", token_ms=1000, period=1.0).read_text()
    assert set(QDISK_SCENARIOS) <= set(SCENARIOS)


def test_a_disk_lost_by_one_node_must_get_it_fenced_and_by_all_must_fence_nobody() -> None:
    one = plan("qdisk-lost-one", 3, 1, 3).steps
    assert one[0].action == "qdisk_lost" and one[0].args[0] in (0, 1, 2)
    assert [s.args[0] for s in one[1:]] == ["{node} will be fenced: node", "fence of {node} confirmed"]
    every = plan("qdisk-lost-all", 3, 1, 3).steps
    assert every[0].args == (-1,) and every[-1].action == "expect_no_fence"
    for name, action in (("qdisk-read-only", "qdisk_readonly"), ("qdisk-frozen", "qdisk_frozen")):
        assert plan(name, 3, 1, 3).steps[0].action == action
