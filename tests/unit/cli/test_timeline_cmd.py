"""`quorate timeline`'s options (E-3): the window's forms, and refusals that say what is wrong."""

from __future__ import annotations

import time

import pytest

from quorate.cli.timeline_cmd import UsageError, parse_args, parse_when, run

NOW = time.mktime((2026, 12, 3, 15, 0, 0, 0, 0, -1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - 90),
        ("30m", NOW - 1800),
        ("2h", NOW - 7200),
        ("1.5d", NOW - 1.5 * 86400),
        ("14:05", NOW - 55 * 60),
        ("14:05:30", NOW - 54 * 60 - 30),
        ("2026-12-03 14:00", NOW - 3600),
        ("2026-12-03T14:00:00", NOW - 3600),
        ("1796000000", 1796000000.0),
    ],
)
def test_when_forms(text: str, expected: float) -> None:
    assert parse_when(text, NOW) == pytest.approx(expected)


def test_an_unreadable_time_says_which_forms_work() -> None:
    with pytest.raises(UsageError, match=r"cannot read the time 'yesterday': give a duration \(30m"):
        parse_when("yesterday", NOW)


def test_defaults_to_the_last_hour_and_passes_the_filters() -> None:
    args = parse_args(["--service", "test", "--node=casper", "--kind", "fence", "--json"], NOW)
    assert args == {"since": int(NOW - 3600), "until": 0, "wait_ms": 1000, "service": "test", "node": "casper",
                    "kind": "fence", "json": True, "utc": False}  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "1h", "--until", "2h"], "--until is before --since"),
        (["--wait", "0"], "--wait must be more than 0"),
        (["--wait", "soon"], "--wait takes seconds"),
        (["--colour"], "no such option: --colour"),
        (["--since"], "option --since requires a value"),
        (["--kind", "weather"], "--kind takes one of view, quorum, votes, qdisk, fence, service, config"),
    ],
)
def test_bad_usage_is_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_args(argv, NOW)


def test_bad_usage_exits_2_with_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--kind"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: quorate timeline") and "Error: option --kind requires a value" in err


def test_no_daemon_exits_1_with_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: object) -> None:  # fmt: skip
    monkeypatch.setenv("QUORATE_SOCKET", f"{tmp_path}/absent.sock")
    assert run([]) == 1
    assert capsys.readouterr().err.startswith("Could not connect to CMAN: quorated is not running")


def test_the_kinds_offered_are_the_events_kinds() -> None:
    from quorate.cli.timeline_cmd import KINDS
    from quorate.core.events import KINDS as EVENT_KINDS

    assert KINDS == EVENT_KINDS
