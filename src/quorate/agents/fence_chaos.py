"""fence_chaos: a fence agent that fails, hangs or forwards on demand, for `quorate chaos`.

Theory of operation: fencing is only worth trusting if the cluster behaves when fencing itself goes wrong: an
agent that keeps failing, one that never returns, a first method that fails while a second one works. This
agent is a wrapper around ``fence_netns`` (the testbed's power switch) whose behaviour a chaos round switches
by writing one word into a file on the machine, named by the device's ``mode_file`` option:

* ``fail``: every run exits 1 at once, saying so, without touching the switch;
* ``hang``: every run sleeps until the caller's deadline kills it (the agent prints nothing and never exits);
* ``first-fails``: runs of the device whose ``chaos_method`` option is ``first`` fail, the others forward;
* ``first-hangs``: runs of that device hang, the others forward;
* anything else, a missing or empty file: the run is forwarded to ``fence_netns`` unchanged.

The two options of its own (``mode_file``, ``chaos_method``) are taken out before the rest of the input
(stdin ``name=value`` lines, as quorate and fenced feed it) is handed to ``fence_netns`` on its stdin; its exit
status is this agent's. ``metadata`` is always answered, whatever the mode, so that a tool listing agents is not
caught by the fault.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from quorate.agents.fence_netns import EXIT_FAIL, EXIT_OK, Param, metadata_xml

OWN_OPTIONS = ("mode_file", "chaos_method")
FIRST_ONLY = {"first-fails": "fail", "first-hangs": "hang"}
FORWARD_TO = [sys.executable, "-m", "quorate.agents.fence_netns"]


def parse_input(text: str) -> dict[str, str]:
    """Every ``name=value`` line of the input, names as written (``-`` read as ``_``), the last value winning;
    unlike ``fence_netns`` nothing is refused here: what this agent does not know is forwarded."""
    options: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        name, sep, value = line.partition("=")
        if line and not line.startswith("#") and sep:
            options[name.strip().replace("-", "_")] = value.strip()
    return options


def read_mode(path: str | None) -> str:
    """The word in the mode file; "" (forward) when there is no file or it cannot be read."""
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def decide(mode: str, method: str) -> str:
    """What one run does: "fail", "hang" or "forward"."""
    if mode in ("fail", "hang"):
        return mode
    if mode in FIRST_ONLY and method == "first":
        return FIRST_ONLY[mode]
    return "forward"


def forwarded_input(options: Mapping[str, str]) -> str:
    """The stdin lines for ``fence_netns``: every option but this agent's own."""
    return "".join(f"{name}={value}\n" for name, value in options.items() if name not in OWN_OPTIONS)


def run(
    options: Mapping[str, str],
    err: Callable[[str], None],
    forward: Callable[[str], int],
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    action = options.get("action", "reboot")
    if action == "metadata":
        params = [Param(name, f"--{name.replace('_', '-')}=[value]", "chosen by quorate chaos") for name in OWN_OPTIONS]
        print(metadata_xml("fence_chaos", "switchable wrapper of fence_netns", __doc__ or "", params, ["metadata"]))
        return EXIT_OK
    what = decide(read_mode(options.get("mode_file")), options.get("chaos_method", ""))
    if what == "fail":
        err(f"fence_chaos: failing on purpose (mode file {options.get('mode_file')})")
        return EXIT_FAIL
    if what == "hang":
        while True:  # until the caller's deadline kills the process group
            sleep(3600)
    return forward(forwarded_input(options))


def _forward(text: str) -> int:
    return subprocess.run(FORWARD_TO, input=text, text=True, check=False).returncode


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def main() -> int:
    return run(parse_input(sys.stdin.read()), _stderr, _forward)


if __name__ == "__main__":
    sys.exit(main())
