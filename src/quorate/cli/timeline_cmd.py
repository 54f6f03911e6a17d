"""`quorate timeline`: what every member decided, when, in one list (E-3).

The local quorated gathers the events of every member of its view (each from its own journal, over the
cluster transport), corrects their times by each peer's measured clock offset, merges and formats them; this
command parses the options, turns the window into wall-clock seconds and prints the answer. It runs on the
interpreter's built-in modules and the raw form of the control protocol (`quorate.cli.fastclient`), without
click, because it is typed while something is wrong: the whole process should take well under 200 ms.

Times: ``--since``/``--until`` take a duration back from now (``90s``, ``30m``, ``2h``, ``1d``), a clock time
today (``14:05``, ``14:05:30``), a date and time (``2026-12-03 14:05[:30]``, or with a ``T``), or seconds since
the epoch. The default window is the last hour.
"""

from __future__ import annotations

import sys
import time

USAGE = """Usage: quorate timeline [--since WHEN] [--until WHEN] [--service NAME] [--node NAME] [--kind KIND]
                        [--json] [--utc] [--wait SECONDS]

  What every member of the cluster decided, merged in time order (each line names its node).

  --since WHEN      start of the window (default 1h: the last hour); WHEN is a duration back from now
                    (90s, 30m, 2h, 1d), a time today (14:05[:30]), a date and time (2026-12-03 14:05[:30])
                    or seconds since the epoch
  --until WHEN      end of the window (default: now)
  --service NAME    the service's events, and the membership, quorum and fencing events around them
  --node NAME       what that node decided, and what was decided about it
  --kind KIND       view, quorum, votes, qdisk, fence, service or config
  --json            print the merged events as JSON
  --utc             print times in UTC (text; JSON always has both)
  --wait SECONDS    how long to wait for the other members' answers (default 1)
"""
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KINDS = ("view", "quorum", "votes", "qdisk", "fence", "service", "config")  # quorate.core.events.KINDS
MAX_WAIT = 8.0  # the control client gives up after 10 s
OPTIONS = ("--since", "--until", "--service", "--node", "--kind", "--wait")


class UsageError(ValueError):
    pass


def parse_when(text: str, now: float) -> float:
    """Wall-clock seconds for WHEN (see the module's docstring); UsageError says what is wrong."""
    value = text.strip()
    if value and value[-1] in UNITS and value[:-1].replace(".", "", 1).isdigit():
        return now - float(value[:-1]) * UNITS[value[-1]]
    if value.replace(".", "", 1).isdigit():
        return float(value)
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(value, layout))
        except ValueError:
            pass
    for layout in ("%H:%M:%S", "%H:%M"):
        try:
            parsed = time.strptime(value, layout)
        except ValueError:
            continue
        today = time.localtime(now)
        return time.mktime((today.tm_year, today.tm_mon, today.tm_mday, parsed.tm_hour, parsed.tm_min,
                            parsed.tm_sec, 0, 0, -1))  # fmt: skip
    raise UsageError(
        f"cannot read the time {text!r}: give a duration (30m, 2h, 1d), a time (14:05), "
        "a date and time (2026-12-03 14:05) or seconds since the epoch"
    )


def parse_args(argv: list[str], now: float) -> dict[str, object]:
    """The request's arguments from the command line."""
    values: dict[str, str] = {}
    flags = {"json": False, "utc": False}
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg in ("-h", "--help"):
            raise SystemExit(0)
        if arg in ("--json", "--utc"):
            flags[arg[2:]] = True
            continue
        name, eq, inline = arg.partition("=")
        if name not in OPTIONS:
            raise UsageError(f"no such option: {arg}")
        if eq:
            values[name[2:]] = inline
        elif rest:
            values[name[2:]] = rest.pop(0)
        else:
            raise UsageError(f"option {name} requires a value")
    since = parse_when(values.get("since", "1h"), now)
    until = parse_when(values["until"], now) if "until" in values else 0.0
    if until and until < since:
        raise UsageError("--until is before --since: nothing can be in that window")
    try:
        wait = float(values.get("wait", "1"))
    except ValueError:
        raise UsageError(f"--wait takes seconds, not {values['wait']!r}") from None
    if not 0 < wait <= MAX_WAIT:
        raise UsageError(f"--wait must be more than 0 and at most {MAX_WAIT:g} seconds")
    args: dict[str, object] = {"since": int(since), "until": int(until + 0.999) if until else 0}
    args["wait_ms"] = int(wait * 1000)
    if values.get("kind") and values["kind"] not in KINDS:
        raise UsageError(f"--kind takes one of {', '.join(KINDS)}, not {values['kind']!r}")
    for name in ("service", "node", "kind"):
        if values.get(name):
            args[name] = values[name]
    args.update(flags)
    return args


def run(argv: list[str]) -> int:
    """The command; returns its exit status (0 printed, 1 refused or no daemon, 2 bad usage)."""
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    try:
        args = parse_args(argv, time.time())
    except UsageError as exc:
        sys.stderr.write(USAGE + f"\nError: {exc}\n")
        return 2
    import os

    from quorate.cli import fastclient

    where = os.environ.get("QUORATE_SOCKET", fastclient.DEFAULT_SOCKET)
    not_running = f"Could not connect to CMAN: quorated is not running (no answer on {where})"  # as `quorate why`
    code: int = fastclient.answer("timeline", prog="quorate timeline", not_running=not_running, **args)
    return code


def __getattr__(name: str) -> object:
    """`quorate.cli.main` registers commands by attribute; the click wrapper is built only when asked for, so
    the quick path (`quorate.cli.entry`) never loads click."""
    if name != "timeline":
        raise AttributeError(name)
    import click

    @click.command(
        "timeline",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
        add_help_option=False,
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def timeline(args: tuple[str, ...]) -> None:
        """What every member decided, merged in time order (quorate timeline --help)."""
        sys.exit(run(list(args)))

    return timeline
