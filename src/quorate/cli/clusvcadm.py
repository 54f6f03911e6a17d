"""clusvcadm: enable, disable, relocate, restart, stop, freeze and unfreeze services (docs/rules.md, clusvcadm).

The request goes to the local quorated, which forwards it to the coordinator and answers once the operation
finished, with the original's result strings and exit status: 0 on success and on "already running", otherwise
rgmanager's (negative) return code truncated to 8 bits, as scripts tested it (255 for "Failure", 243 for a
pending fence).
"""

import sys

from quorate.cli import client
from quorate.core.service_vocabulary import exit_status

USAGE = """usage: clusvcadm [command]

Resource Group Control Commands:
  -v                     Display version and exit
  -d <group>             Disable <group>
  -e <group>             Enable <group> on the local node
  -e <group> -m <member> Enable <group> on <member>
  -r <group> -m <member> Relocate <group> [to <member>]
  -R <group>             Restart a group in place
  -s <group>             Stop <group>
  -Z <group>             Freeze group in place
  -U <group>             Unfreeze/thaw group
"""

OPS = {
    "-e": "enable",
    "-d": "disable",
    "-r": "relocate",
    "-R": "restart",
    "-s": "stop",
    "-Z": "freeze",
    "-U": "unfreeze",
}
VERBS = {
    "enable": "trying to enable",
    "disable": "disabling",
    "stop": "stopping",
    "restart": "trying to restart",
    "freeze": "freezing",
    "unfreeze": "unfreezing",
}


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    op = service = member = None
    quiet = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in OPS and i + 1 < len(args):
            op, service = OPS[arg], args[i + 1]
            i += 1
        elif arg in ("-m", "-n") and i + 1 < len(args):
            member = args[i + 1]
            i += 1
        elif arg == "-q":
            quiet = True
        elif arg == "-v":
            print("quorate clusvcadm (rgmanager-compatible)")
            return 0
        elif arg in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        else:
            sys.stderr.write(f"clusvcadm: invalid option {arg}\n{USAGE}")
            return 1
        i += 1
    if op is None or service is None:
        sys.stderr.write(USAGE)
        return 1
    name = service if service.startswith("service:") else f"service:{service}"
    try:
        status = client.status()
    except client.NotRunning as exc:
        print(f"Could not connect to resource group manager{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 1
    local = status["node_name"]
    if member is not None:
        member = _match(member, [n["name"] for n in status["nodes"] if n["member"]])
        if member is None:
            return 1
    if op == "relocate":
        line = f"Trying to relocate {name}" + (f" to {member}" if member else "") + "..."
    elif member and op == "enable":
        line = f"Member {member} {VERBS[op]} {name}..."
    else:
        line = f"Local machine {VERBS[op]} {name}..."
    out = sys.stdout if not quiet else open("/dev/null", "w")  # noqa: SIM115
    out.write(line)
    out.flush()
    try:
        answer = client.request("svc", op=op, service=service, target=member or (local if op == "enable" else None))
    except client.RequestFailed as exc:
        out.write(f"{exc}\n")
        return 1
    except client.NotRunning:
        out.write("Could not connect to resource group manager\n")
        return 1
    out.write(f"{answer['result']}\n")
    if answer["done"] and op in ("enable", "relocate", "restart") and answer.get("owner"):
        warn = "Warning: " if member and answer["owner"] != member else ""
        out.write(f"{warn}{name} is now running on {answer['owner']}\n")
    return 0 if answer["done"] else exit_status(answer["result"])


def _match(name, members):
    """rgmanager's member matching: exact, else the longest common prefix, refusing ties (6.1)."""
    if name in members:
        return name
    print(f"'{name}' not in membership list")
    scored = sorted(((len(_common(name, m)), m) for m in members), reverse=True)
    if not scored or scored[0][0] == 0:
        print(f"No matches for '{name}' found")
        return None
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        print("More than one possible match")
        return None
    print(f"Closest match: '{scored[0][1]}'")
    return scored[0][1]


def _common(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


if __name__ == "__main__":
    sys.exit(main())
