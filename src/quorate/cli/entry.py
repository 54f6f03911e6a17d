"""The `quorate` command's entry point: `quorate status`, `quorate why` and `quorate timeline`, the questions
asked over and over while something is wrong, are answered without loading click (which alone costs them
0.1-0.2 s of start-up on a busy node); every other command line, and the first two with any other option, goes
to the click command line in `quorate.cli.main`, which prints the same things.
"""

from __future__ import annotations

import os
import sys


def why_not_running() -> str:
    from quorate.cli import fastclient

    where = os.environ.get("QUORATE_SOCKET", fastclient.DEFAULT_SOCKET)
    return f"Could not connect to CMAN: quorated is not running (no answer on {where})"


def _status(as_json: bool) -> int:
    from quorate.cli.status_cmd import StatusUnavailable, status_text

    try:
        sys.stdout.write(status_text(as_json))
    except StatusUnavailable as exc:
        sys.stderr.write(f"Error: {exc}\n")  # click's ClickException form, as `quorate.cli.main` prints it
        return 1
    return 0


def _why(name: str | None) -> int:
    from quorate.cli import fastclient

    code: int = fastclient.answer("why", prog="quorate why", not_running=why_not_running(), name=name)
    return code


def _leave(code: int) -> None:
    from quorate.cli.fastclient import leave

    leave(code)


def run() -> None:
    args = sys.argv[1:]
    if args[:1] == ["status"] and args[1:] in ([], ["--json"]):
        _leave(_status(as_json=args[1:] == ["--json"]))
    if args[:1] == ["timeline"]:
        from quorate.cli.timeline_cmd import run as timeline

        sys.exit(timeline(args[1:]))
    if args[:1] == ["why"] and len(args) <= 2 and not any(a.startswith("-") for a in args[1:]):
        _leave(_why(args[1] if len(args) == 2 else None))
    from quorate.cli.main import main

    sys.exit(main())


if __name__ == "__main__":
    run()
