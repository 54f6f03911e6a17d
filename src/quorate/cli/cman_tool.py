"""cman_tool: the original command set on top of quorated (Q-6..Q-10, L-10).

Start-up cost matters (monitoring scripts run `cman_tool status` every few seconds), so this module imports
only `sys` and `os` at load time: status requests go through `fastclient` and the daemon formats the text;
everything else is imported inside the command that needs it. Options are parsed by hand for the same reason
(getopt pulls in gettext).
"""

import os
import sys

from quorate.cli import fastclient

PROG = "cman_tool"
NOT_RUNNING = f"{PROG}: Cannot open connection to cman, is it running ?"

USAGE = f"""Usage:

{PROG} <join|leave|kill|expected|votes|version|wait|status|nodes|services> [options]

Commands:
  status                  Show local record of cluster status
  nodes [-a] [-n name]    Show local record of cluster nodes
  expected -e <votes>     Tell the cluster to lower its expected votes
  votes -v <votes> [-n <node>]  Change the votes of a node (this one by default), in cluster.conf everywhere
  leave [remove] [force]  Leave the cluster cleanly (remove: the others lower their expected votes)
  kill -n <node>          Tell another member to stop at once; it is treated as failed and fenced
  services                Show the groups this node takes part in (fence domain, lock spaces)
  join [-w] [-q] [-t s]   Rejoin the cluster (starts quorated through systemd when it is not running)
  wait [-q] [-t s]        Wait until this node is a member (-q: and quorate); exit 2 on timeout
  version                 Show the protocol version and the running config version
"""


class UsageError(Exception):
    pass


def parse(args, flags="", valued=""):
    """(options, words): `-x` flags and `-y VALUE` options, in any order, among plain words."""
    options = {}
    words = []
    i = 0
    while i < len(args):
        arg = args[i]
        if len(arg) >= 2 and arg[0] == "-" and arg[1] in flags + valued:
            letter = arg[1]
            if letter in valued:
                value = arg[2:]
                if not value:
                    i += 1
                    if i >= len(args):
                        raise UsageError(f"option -{letter} requires an argument")
                    value = args[i]
                options[letter] = value
            else:
                options[letter] = ""
        elif arg.startswith("-") and arg != "-":
            raise UsageError(f"unknown option {arg}")
        else:
            words.append(arg)
        i += 1
    return options, words


def _fail(message, code=1):
    sys.stderr.write(f"{PROG}: {message}\n")
    return code


def _text(cmd, **args):
    return fastclient.answer(cmd, prog=PROG, not_running=NOT_RUNNING, **args)


def cmd_status(args):
    parse(args)
    return _text("cman_status")


def cmd_nodes(args):
    options, _ = parse(args, flags="af", valued="nF")
    return _text("cman_nodes", addresses="a" in options, only=options.get("n"))


def cmd_version(args):
    parse(args, valued="rD")
    return _text("cman_version")


def _request(cmd, failure, **args):
    return fastclient.answer(cmd, prog=PROG, not_running=NOT_RUNNING, failure=failure, echo=False, **args)


def cmd_expected(args):
    options, words = parse(args, valued="e")
    value = options.get("e") or (words[0] if words else None)
    if value is None or not value.isdigit() or int(value) < 1:
        return _fail("expected -e needs a positive number of votes")
    return _request("expected", "can't set expected votes", votes=int(value))


def cmd_kill(args):
    options, words = parse(args, valued="n")
    nodes = ([options["n"]] if "n" in options else []) + words
    if not nodes:
        return _fail("kill needs -n <node name>")
    status = 0
    for node in nodes:
        status = max(status, _request("kill", f"Error killing node {node}", node=node))
    return status


def cmd_services(args):
    parse(args)
    return _text("cman_services")


def cmd_votes(args):
    options, words = parse(args, valued="vn")
    value = options.get("v") or (words[0] if words else None)
    if value is None or not value.isdigit():
        return _fail("votes -v needs a number of votes")
    from quorate.cli.votes_cmd import change_votes

    return change_votes(int(value), options.get("n"))


def cmd_leave(args):
    _, words = parse(args, flags="w", valued="t")
    return _request("leave", "Error leaving cluster", remove="remove" in words, force="force" in words)


def _member_state():
    """(member, quorate) from `cman_tool status`'s own text, or None when the daemon does not answer."""
    try:
        text = fastclient.request_text("cman_status")
    except (fastclient.NotRunning, fastclient.Refused):
        return None
    member = "Membership state: Cluster-Member" in text
    return member, member and "Activity blocked" not in text


def _wait(quorate, timeout):
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = _member_state()
        if state is not None and state[0] and (state[1] or not quorate):
            return 0
        if deadline is not None and time.monotonic() >= deadline:
            return _fail("timed out waiting for " + ("quorum" if quorate else "membership"), 2)
        time.sleep(0.2)


def _timeout(options):
    if "t" not in options:
        return None
    try:
        return float(options["t"])
    except ValueError:
        raise UsageError(f"-t needs a number of seconds, got {options['t']!r}") from None


def cmd_join(args):
    options, _ = parse(args, flags="wq2X", valued="tcnNvemkp")
    try:
        fastclient.request_text("join")
    except fastclient.NotRunning:
        import shutil
        import subprocess

        systemctl = shutil.which("systemctl")
        if not (systemctl and os.path.isdir("/run/systemd/system")):
            return _fail("quorated is not running: start it (it runs in the foreground) and retry")
        if subprocess.run([systemctl, "start", "quorated"], check=False).returncode != 0:
            return _fail("'systemctl start quorated' failed: see 'journalctl -u quorated'")
    except fastclient.Refused as exc:
        if "already" not in str(exc):
            return _fail(f"Error joining cluster: {exc}")
    if "w" in options or "q" in options:
        return _wait("q" in options, _timeout(options))
    return 0


def cmd_wait(args):
    options, _ = parse(args, flags="q", valued="t")
    return _wait("q" in options, _timeout(options))


COMMANDS = {
    "status": cmd_status,
    "nodes": cmd_nodes,
    "version": cmd_version,
    "expected": cmd_expected,
    "leave": cmd_leave,
    "kill": cmd_kill,
    "votes": cmd_votes,
    "services": cmd_services,
    "join": cmd_join,
    "wait": cmd_wait,
}


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 1
    command = COMMANDS.get(args[0])
    if command is None:
        return _fail(f"unknown command '{args[0]}'\n{USAGE}")
    try:
        return command(args[1:])
    except UsageError as exc:
        return _fail(f"{args[0]}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
