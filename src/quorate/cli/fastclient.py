"""The control-socket client for status commands, on the interpreter's built-in modules only.

`cman_tool status` and `clustat` are run by monitoring scripts every few seconds, so their whole-process
time matters. `socket` imports `enum` and `json` imports `re`, which together cost more than the request:
this module speaks the raw form of the protocol (one JSON line out, built by hand; `OK` or `ERR` and plain
text back) over `_socket`, and the daemon does the formatting.
"""

import _socket
import os
import sys

DEFAULT_SOCKET = "/run/quorate/quorated.sock"


class NotRunning(Exception):
    pass


class Refused(Exception):
    pass


class Unreachable(Refused):
    """The daemon's socket is there but cannot be used (permission denied, a timeout, a reset): the message
    says which, for the command to print on one line instead of a traceback."""


def exchange(line, timeout=10.0):
    """Send one request line (bytes) to the daemon and return its whole answer (bytes)."""
    path = os.environ.get("QUORATE_SOCKET", DEFAULT_SOCKET)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NotRunning() from exc
        except PermissionError:
            raise Unreachable(f"permission denied on the control socket {path}: run this command as root") from None
        sock.sendall(line)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        else:
            reason = exc.strerror or str(exc)
        raise Unreachable(f"cannot talk to quorated on {path}: {reason}") from None
    finally:
        sock.close()
    return b"".join(chunks)


def request_text(cmd, **args):
    """Send `cmd` with simple string/int/bool arguments; return the daemon's text answer."""
    fields = [f'"cmd":"{cmd}"', '"raw":true']
    for key, value in args.items():
        if isinstance(value, bool):
            fields.append(f'"{key}":{"true" if value else "false"}')
        elif isinstance(value, int):
            fields.append(f'"{key}":{value:d}')
        elif value is not None:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            fields.append(f'"{key}":"{escaped}"')
    reply = exchange(("{" + ",".join(fields) + "}\n").encode()).decode()
    if not reply:
        raise Refused("the daemon closed the connection without answering")
    status, _, text = reply.partition("\n")
    if status != "OK":
        raise Refused(text.strip() or "the daemon refused the request")
    return text


def answer(cmd, *, prog, not_running, failure="", echo=True, **args):
    """Run one request for a command-line tool: print the answer, or the reason on stderr; the exit status."""
    try:
        text = request_text(cmd, **args)
    except NotRunning:
        sys.stderr.write(not_running + "\n")
        return 1
    except Refused as exc:
        sys.stderr.write(f"{prog}: {failure + ': ' if failure else ''}{exc}\n")
        return 1
    if echo:
        sys.stdout.write(text)
    return 0


def leave(code):
    """Exit with ``code`` (as `sys.exit` reads it) once stdout and stderr are written, without the interpreter's
    teardown. Why: freeing every module and object at exit took about 1.5 ms of a status command's 10-12 ms
    here, and these commands hold nothing that needs finalising (no files, threads or atexit handlers of
    their own). A reader that left early (``clustat | head``) ends the command with status 120, as Python's own
    exit would, without its traceback."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            status = 120
    os._exit(status & 0xFF)
