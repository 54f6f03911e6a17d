"""clustat: cluster and service status in the article's layout (L-1..L-4).

Built-in modules only on the default path, like cman_tool: the daemon formats the text.
"""

import sys

from quorate.cli import fastclient

USAGE = """usage: clustat [-i <interval>] [-m <member>] [-s <service>] [-Q] [--json]
  -i N       refresh every N seconds
  -m member  show one member (exit 0 if online, 1 if not)
  -s service show one service (exit 0 if running, else its state code)
  -Q         no output; exit 0 if quorate, 1 if not
  -x         XML output (rgmanager's layout)
  --json     the full state as JSON (quorate status --json)
"""


def _once(options):
    try:
        text = fastclient.request_text("clustat", **options)
    except fastclient.NotRunning:
        sys.stderr.write("Could not connect to CMAN: quorated is not running\n")
        return 1
    except fastclient.Refused as exc:
        sys.stderr.write(f"clustat: {exc}\n")
        return 1
    code, _, body = text.partition("\n")
    if not options.get("quiet"):
        sys.stdout.write(body)
    return int(code) if code.strip().lstrip("-").isdigit() else 1


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    options = {}
    interval = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if arg == "--json":
            import json

            from quorate.cli import client

            try:
                print(json.dumps(client.status(), indent=2))
            except client.Unreachable as exc:
                sys.stderr.write(f"clustat: {exc}\n")
                return 1
            except client.NotRunning:
                sys.stderr.write("Could not connect to CMAN: quorated is not running\n")
                return 1
            return 0
        if arg == "-Q":
            options["quiet"] = True
        elif arg == "-x":
            options["xml"] = True
        elif arg in ("-m", "-s", "-i") and i + 1 < len(args):
            value = args[i + 1]
            i += 1
            if arg == "-m":
                options["member"] = value
            elif arg == "-s":
                options["service"] = value
            else:
                interval = float(value)
        elif arg in ("-f", "-l"):
            pass
        else:
            sys.stderr.write(f"clustat: unknown option {arg}\n{USAGE}")
            return 1
        i += 1
    if interval is None:
        return _once(options)
    import time

    while True:
        sys.stdout.write("\033[H\033[2J")
        _once(options)
        time.sleep(interval)
