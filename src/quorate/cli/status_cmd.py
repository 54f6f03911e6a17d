"""`quorate status` on the command's side: one raw request, the daemon's text printed as it comes.

The daemon lays the status out (`quorate.node.status_text`), as it does for `clustat`; this side needs only the
interpreter's built-in modules, so `quorate status` costs what `clustat` costs.
"""

from __future__ import annotations

import os


def status_text(as_json: bool) -> str:
    """`quorate status [--json]` as the daemon lays it out; raises `StatusUnavailable` with the line to print.
    The quick entry point (`quorate.cli.entry`) and the click command line (`quorate.cli.main`) both print it."""
    from quorate.cli import fastclient

    try:
        text: str = fastclient.request_text("status_text", as_json=as_json)
    except fastclient.NotRunning:
        where = os.environ.get("QUORATE_SOCKET", fastclient.DEFAULT_SOCKET)
        raise StatusUnavailable(f"quorated is not running on this node (no answer on {where})") from None
    except fastclient.Refused as exc:
        raise StatusUnavailable(str(exc)) from None
    return text


class StatusUnavailable(Exception):
    """No status to print: the message says why (no daemon, a refusal, an unusable socket)."""
