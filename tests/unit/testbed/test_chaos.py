"""The pure parts of `quorate chaos`: the shared disk's testimony, the fencing and version checks, the plans
a seed makes, the report (no root needed)."""

from __future__ import annotations

from datetime import datetime

import pytest
from click.testing import CliRunner

from quorate.cli.main import main
from quorate.testbed import chaos_checks as checks
from quorate.testbed.chaos_plan import SCENARIOS, plan
from quorate.testbed.chaos_report import RoundResult, details, table

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
T0 = datetime(2026, 3, 1, 12, 0, 0).timestamp()


def writes(*spans: tuple[str, float, float], period: float = 1.0) -> list[checks.Write]:
    """One loop per span: ``host`` writing every ``period`` seconds from ``start`` to ``end`` (offsets from T0)."""
    out = []
    for host, start, end in spans:
        t = start
        while t <= end + 1e-9:
            out.append(checks.Write(T0 + t, host))
            t += period
    return sorted(out, key=lambda w: w.time)


# ------------------------------------------------------------------------------------------- the shared disk


def test_parses_the_programs_lines_with_sub_second_stamps_and_ignores_others() -> None:
    text = (
        "Date/Time :  2026-03-01 12:00:00.250000000 balthasar.localdomain\n"
        "garbage\n"
        "Date/Time :  2026-03-01 12:00:01 casper.localdomain\n"
    )
    got = checks.parse_writes(text)
    assert got == [checks.Write(T0 + 0.25, B), checks.Write(T0 + 1, C)]


def test_a_clean_hand_over_is_no_violation() -> None:
    story = writes((B, 0, 10), (C, 14, 30), (B, 33.5, 40))
    assert checks.writer_violations(story, 1.0) == []
    assert [(r.host, r.lines) for r in checks.runs(story, 1.0)] == [(B, 11), (C, 17), (B, 7)]


def test_two_hosts_writing_in_the_same_period_are_a_violation() -> None:
    story = writes((B, 0, 20), (C, 12.5, 30))
    found = checks.writer_violations(story, 1.0)
    assert len(found) == 1 and "two writers" in found[0] and B in found[0] and C in found[0]


def test_two_loops_on_one_host_are_a_violation() -> None:
    story = writes((B, 0, 20), (B, 0.5, 20.5))
    found = checks.writer_violations(story, 1.0)
    assert len(found) == 1 and found[0].startswith(f"two loops on {B}")


def test_a_cut_off_host_must_fall_silent_after_the_grace() -> None:
    story = writes((B, 0, 8), (C, 15, 30))
    assert checks.silent_violations(story, [B], start=T0 + 9, end=T0 + 30) == []
    late = checks.silent_violations(story, [B], start=T0 + 5, end=T0 + 30)
    assert len(late) == 1 and "outside the quorate view" in late[0] and "4 such lines" in late[0]


# ------------------------------------------------------------------------------------------------- fencing


def test_takeover_after_power_loss_and_fence_is_fine() -> None:
    story = writes((B, 0, 8), (C, 15, 30))
    assert checks.takeover_violations(story, {B: T0 + 9}, {B: T0 + 12}, {C: [T0 + 14.5]}) == []


def test_takeover_before_the_power_went_is_a_violation() -> None:
    story = writes((B, 0, 8), (C, 10, 30))
    found = checks.takeover_violations(story, {B: T0 + 12}, {}, {})
    assert len(found) == 1 and "before balthasar.localdomain lost power" in found[0]


def test_start_logged_before_the_fence_confirmation_is_a_violation() -> None:
    story = writes((B, 0, 8), (C, 15, 30))
    found = checks.takeover_violations(story, {B: T0 + 9}, {B: T0 + 14}, {C: [T0 + 13]})
    assert len(found) == 1 and "before the fence of balthasar.localdomain was confirmed" in found[0]


def test_a_node_powered_off_without_holding_the_disk_is_not_judged() -> None:
    story = writes((B, 0, 30))
    assert checks.takeover_violations(story, {C: T0 + 5}, {C: T0 + 7}, {}) == []


def test_log_times_read_the_daemons_stamps() -> None:
    log = (
        "2026-03-01 12:00:04.500 quorated[9]: fence of casper.localdomain confirmed: off\n"
        "2026-03-01 11:59:00.000 quorated[9]: fence of casper.localdomain confirmed: off\n"
        "2026-03-01 12:00:05.000 quorated[9]: something else\n"
    )
    assert checks.log_times(log, "fence of casper.localdomain confirmed", since=T0) == [T0 + 4.5]


# ----------------------------------------------------------------------------------- configuration versions


def test_config_versions_must_agree_and_none_may_be_lost() -> None:
    assert checks.config_version(b'<?xml version="1.0"?>\n<cluster name="magi" config_version="4">') == 4
    assert checks.version_violations({B: 4, C: 4, M: 4}, at_least=4) == []
    found = checks.version_violations({B: 4, C: 3, M: 4}, at_least=4)
    assert found == [
        f"nodes disagree on the configuration version: {B} 4, {C} 3, {M} 4",
        f"configuration version 4 lost on {C}",
    ]


# --------------------------------------------------------------------------------------------------- plans


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_seed_makes_one_plan_every_time(scenario: str) -> None:
    assert plan(scenario, 42, 1, 3) == plan(scenario, 42, 1, 3)
    assert plan(scenario, 42, 1, 3).steps


def test_seeds_and_rounds_change_the_choices() -> None:
    flaps = {tuple(plan("flapping-link", seed, 1, 3).steps) for seed in range(5)}
    assert len(flaps) == 5
    assert plan("power-off", 1, 1, 3) != plan("power-off", 1, 2, 3) or plan("power-off", 1, 3, 3) != plan(
        "power-off", 1, 1, 3
    )


def test_flapping_link_goes_down_and_up_for_about_ten_seconds() -> None:
    steps = plan("flapping-link", 3, 1, 3).steps
    assert [s.action for s in steps[:2]] == ["partition", "heal"]
    assert all(0.5 <= s.pause <= 2 for s in steps)
    assert 10 <= sum(s.pause for s in steps) <= 14


def test_a_partition_names_the_nodes_cut_off() -> None:
    p = plan("partition-2-1", 5, 1, 3)
    alone, rest = p.steps[0].args
    assert p.cut_off == alone and len(rest) == 2 and set(alone) | set(rest) == {0, 1, 2}  # type: ignore[arg-type]


def test_unknown_scenario_and_too_few_nodes_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown chaos scenario 'nope'"):
        plan("nope", 1, 1, 3)
    with pytest.raises(ValueError, match="at least 3 nodes"):
        plan("power-off", 1, 1, 2)


# -------------------------------------------------------------------------------------------------- report


def test_report_sums_up_each_scenario() -> None:
    results = [
        RoundResult("power-off", 1, 7, 4.0),
        RoundResult("power-off", 2, 7, 8.0),
        RoundResult("power-off", 3, 7, 5.0, ["two writers on the shared disk: ..."]),
        RoundResult("kill-daemon", 1, 7, None, ["not recovered within 90 s of the end of the faults"]),
    ]
    assert table(results).splitlines()[2:] == [
        "| power-off | 3 | 4.0 s | 5.0 s | 8.0 s | 2 | 1 |",
        "| kill-daemon | 1 | - | - | - | 0 | 1 |",
    ]
    assert details(results).splitlines() == [
        "- power-off round 3 (seed 7):",
        "  - two writers on the shared disk: ...",
        "- kill-daemon round 1 (seed 7):",
        "  - not recovered within 90 s of the end of the faults",
    ]
    assert details(results[:2]) == ""


def test_command_lists_scenarios_and_refuses_unknown_ones() -> None:
    listed = CliRunner().invoke(main, ["chaos", "--list"])
    assert listed.exit_code == 0 and listed.output.splitlines()[0].startswith("power-off")
    assert len(listed.output.splitlines()) == len(SCENARIOS)
    bad = CliRunner().invoke(main, ["chaos", "--scenario", "nope"])
    assert bad.exit_code == 2 and "unknown scenario nope" in bad.output


def test_a_quick_hand_over_and_back_is_no_violation() -> None:
    # casper takes over 1.7 s after balthasar's last line, balthasar comes back: no line of one host falls
    # between two lines of another that its loop wrote one period apart.
    story = writes((C, 0, 3), (B, 3.2, 3.2), (C, 4.9, 12))
    assert checks.writer_violations(story, 1.0) == []


def test_another_writer_while_the_owner_still_had_power_is_a_violation() -> None:
    story = writes((B, 0, 8), (C, 9.5, 30))
    found = checks.takeover_violations(story, {B: T0 + 10}, {}, {})
    assert found == [
        f"{C} wrote the shared disk at {datetime.fromtimestamp(T0 + 9.5).strftime('%H:%M:%S.%f')[:-3]}, "
        f"before {B} lost power at {datetime.fromtimestamp(T0 + 10).strftime('%H:%M:%S.%f')[:-3]}"
    ]


def test_a_hand_over_and_back_within_one_period_is_no_violation() -> None:
    # balthasar's loop stops at 0.1, casper writes at 0.17 and stops, balthasar's new loop writes at 0.94: lines
    # of one host closer than a period come from two loops, so casper's line between them is a hand-over.
    story = [checks.Write(T0 + t, host) for t, host in ((-1, B), (0.1, B), (0.17, C), (0.94, B), (1.95, B))]
    assert checks.writer_violations(story, 1.0) == []
    story.append(checks.Write(T0 + 1.5, C))
    assert len(checks.writer_violations(story, 1.0)) == 1


def test_an_owner_that_handed_the_service_over_before_losing_power_is_not_judged() -> None:
    # casper stopped the service at 8.5 (a failback), balthasar took it at 9, casper was fenced at 11.
    story = writes((C, 0, 8), (B, 9, 30))
    assert len(checks.takeover_violations(story, {C: T0 + 11}, {C: T0 + 11.2}, {B: [T0 + 8.9]})) == 2
    assert checks.takeover_violations(story, {C: T0 + 11}, {C: T0 + 11.2}, {B: [T0 + 8.9]}, {C: [T0 + 8.5]}) == []
    # a stop logged after the new owner started is no hand-over
    assert len(checks.takeover_violations(story, {C: T0 + 11}, {}, {}, {C: [T0 + 9.5]})) == 1


def test_the_new_owners_start_after_the_old_owners_last_line_is_the_one_judged() -> None:
    # balthasar had started the service once before (a failback at -5), then again after casper's fence
    story = writes((C, 0, 8), (B, 12, 30))
    assert checks.takeover_violations(story, {C: T0 + 9}, {C: T0 + 11}, {B: [T0 - 5, T0 + 11.9]}) == []


def test_loop_ids_tell_a_restart_from_a_second_writer() -> None:
    text = "\n".join(
        f"Date/Time :  2026-03-01 12:00:{sec} {host} {pid}"
        for sec, host, pid in (
            ("00.00", B, "7-1"), ("01.01", B, "7-1"), ("01.60", C, "9"), ("02.40", B, "7-2"), ("03.41", B, "7-2")
        )
    )
    story = checks.parse_writes(text)
    assert story[2] == checks.Write(T0 + 1.6, C, "9")
    # a loop stopped, casper wrote, a new loop (the same pid after a reboot) began
    assert checks.writer_violations(story, 1.0) == []
    clash = checks.parse_writes(text + f"\nDate/Time :  2026-03-01 12:00:02.90 {C} 9")
    found = checks.writer_violations(clash, 1.0)
    assert len(found) == 1 and "two writers" in found[0]
