"""`ccs_tool update FILE` and `quorate config push FILE`: activate a new cluster.conf on every member, or on none.

Theory of operation: the file is checked here first (the same loader as `quorate config validate`), so a typo
is reported at once with its file, line and element; then the whole file goes to the local daemon, which
checks it against the running configuration and hands it to the coordinator's two-phase distribution
(`quorate.core.config_dist`). The answer is the cluster's: ``Config file updated from version A to B``, or
which node refused and why, or who did not answer; in every refusal nothing changed anywhere.

Exit codes: 0 updated (or, with ``--dry-run``, would be sent), 1 refused (invalid file, version not higher,
cluster not quorate, a member refused or went silent), 2 the file cannot be read or no daemon runs here.
"""

from __future__ import annotations

import json
import sys

from quorate.cli import fastclient
from quorate.config import ConfigError, ConfigReadError, parse_config
from quorate.config.files import read_config_bytes

EXIT_UPDATED = 0
EXIT_REFUSED = 1
EXIT_UNUSABLE = 2
PUSH_TIMEOUT = 120.0


def push_file(path: str, *, dry_run: bool = False, prog: str = "ccs_tool") -> int:
    try:
        data = read_config_bytes(path)
        parse_config(data, source=path)
    except ConfigReadError as exc:
        for problem in exc.problems:
            print(f"{prog}: {problem}", file=sys.stderr)
        return EXIT_UNUSABLE
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{problem.severity}: {problem}", file=sys.stderr)
        print(f"{prog}: {path} is not valid: nothing was sent", file=sys.stderr)
        return EXIT_REFUSED
    return push_bytes(data, dry_run=dry_run, prog=prog)


def push_bytes(data: bytes, *, dry_run: bool = False, prog: str = "ccs_tool") -> int:
    """Send a file the caller has already validated to the local daemon, and print the cluster's answer."""
    request = {"cmd": "config_push", "data": data.decode("utf-8", "replace"), "dry_run": dry_run}
    try:
        reply = fastclient.exchange(json.dumps(request).encode() + b"\n", timeout=PUSH_TIMEOUT)
    except fastclient.NotRunning:
        print(f"{prog}: quorated is not running on this node: cannot update the cluster", file=sys.stderr)
        return EXIT_UNUSABLE
    except TimeoutError:
        print(f"{prog}: no answer from quorated within {PUSH_TIMEOUT:g} s", file=sys.stderr)
        return EXIT_REFUSED
    answer = json.loads(reply or b'{"ok": false, "error": "the daemon closed the connection"}')
    if answer.get("ok"):
        sys.stdout.write(answer.get("text", ""))
        return EXIT_UPDATED
    print(f"{prog}: {answer.get('error') or 'refused'}", file=sys.stderr)
    return EXIT_REFUSED
