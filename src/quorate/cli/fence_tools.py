"""fence_node, fence_ack_manual and fence_tool: the fenced command lines (F-30, F-31, F-40, L-13..L-15).

They ask the local quorated, which runs the agents (fence_node) or hands the acknowledgement to the fencing
coordinator (fence_ack_manual). Exit status 0 on success, 1 otherwise, with the reason on stderr.
"""

import sys

from quorate.cli import fastclient

NOT_RUNNING = "quorated is not running on this node (start it first)"

WARNING = """\
Warning:  If the node "{node}" has not been manually fenced
(i.e. power cycled or disconnected from shared storage devices)
the GFS file system may become corrupted and all its data
unrecoverable!  Please verify that the node shown above has
been reset or disconnected from storage.

Are you certain you want to continue? [yN] """


def _ask(cmd, prog, **args):
    return fastclient.answer(cmd, prog=prog, not_running=f"{prog}: {NOT_RUNNING}", **args)


def _node_arg(args, prog, usage):
    node = None
    flags = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-n" and i + 1 < len(args):
            node = args[i + 1]
            i += 1
        elif arg.startswith("-") and len(arg) == 2:
            flags.add(arg[1])
        elif node is None:
            node = arg
        else:
            raise SystemExit(f"{prog}: unexpected argument {arg}\n{usage}")
        i += 1
    if node is None and "h" not in flags:
        raise SystemExit(f"{prog}: no node name given\n{usage}")
    return node, flags


def fence_node(argv=None):
    usage = "Usage: fence_node [-v] <nodename>"
    node, flags = _node_arg(sys.argv[1:] if argv is None else argv, "fence_node", usage)
    if "h" in flags:
        print(usage)
        return 0
    code = _ask("fence_node", "fence_node", node=node)
    if code == 0 and "v" not in flags:
        print(f"fence {node} success")
    return code


def fence_ack_manual(argv=None):
    usage = "Usage: fence_ack_manual [-O] -n <nodename>"
    node, flags = _node_arg(sys.argv[1:] if argv is None else argv, "fence_ack_manual", usage)
    if "h" in flags:
        print(usage)
        return 0
    if "O" not in flags:
        sys.stdout.write(WARNING.format(node=node))
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("aborted")
            return 1
    return _ask("fence_ack", "fence_ack_manual", node=node)


def fence_tool(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("Usage: fence_tool ls")
        return 0 if args else 1
    if args[0] in ("ls", "dump"):
        return _ask("fence_ls", "fence_tool")
    if args[0] in ("join", "leave"):
        print(f"fence_tool: {args[0]}: quorated joins and leaves the fence domain with the cluster itself")
        return 0
    sys.stderr.write(f"fence_tool: unknown command {args[0]}\n")
    return 1
