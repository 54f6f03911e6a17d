"""fence_netns: a real fence agent for the testbed's power switch, speaking the fence-agent API.

Theory of operation: the testbed (``quorate.testbed.power``) runs a network power switch in its switch
namespace at 192.168.0.254:1623. Its line protocol: ``AUTH <secret>`` first, then ``OFF <node>``,
``ON <node>``, ``STATUS <node>`` or ``LIST``; answers are ``OK``, ``ON``/``OFF``, node lines ended by
``OK``, or ``ERR <reason>``. This agent is that switch's client, and behaves as the fence-agents library
does (F-24..F-27) so that quorate's executor, fenced or Pacemaker can drive it:

* options come from the command line if there are any arguments, else from stdin ``name=value`` lines
  (trimmed, ``#`` comments and blanks skipped, split at the first ``=``, quotes stripped, last value wins,
  ``-``/``_`` interchangeable, unknown names warned about and ignored, ``nodename`` always accepted);
* the plug is ``port``/``plug``; when absent it is ``nodename``, because a testbed host *is* its own plug;
* ``off``/``on`` read the status first ("Already OFF"), act, then poll the status until it changed
  (``power_timeout``); only a verified change is success (F-27). ``reboot`` is off then on, a success when
  the off half worked. ``status`` exits 0 for ON and 2 for OFF; ``monitor`` 0 when the switch answers;
  ``list`` prints ``name,alias`` lines; any failure exits 1 (F-26).

The stdin parser and the metadata writer below are generic: ``fence_manual`` reuses them.
"""

from __future__ import annotations

import _socket
import sys
import time

# The agent runs on the failover's critical path (fenced waits for it before anything is taken over), so it
# imports only what a fence needs: argparse (options on the command line), subprocess (a password script) and
# the metadata's XML are loaded when used. xml.sax.saxutils alone pulled in urllib, http and email: ~40 ms. The
# switch is spoken to over `_socket`, not `socket` (which loads enum and selectors), the host name is given to
# getaddrinfo as bytes (a str loads the idna codec, with unicodedata), and typing and collections.abc are for
# the type checker only: together 20-30 ms of a fence, before the switch was even asked.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

DEFAULT_ADDRESS = "192.168.0.254"
DEFAULT_PORT = 1623
EXIT_OK, EXIT_FAIL, EXIT_OFF = 0, 1, 2
ACTIONS = ("off", "on", "reboot", "status", "monitor", "list", "list-status", "metadata", "validate-all")


class AgentError(Exception):
    """A failure to report with exit status 1 (the message goes to stderr)."""


# ------------------------------------------------------------------------------ options (shared plumbing)
def parse_stdin(text: str, known: Mapping[str, str], warn: Callable[[str], None]) -> dict[str, str]:
    """Read fence-agent stdin into canonical option names; ``known`` maps every accepted spelling to one."""
    options: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        key = name.strip().lower().replace("-", "_")
        if not sep or key not in known:
            warn(f"Parse error: Ignoring unknown option '{name.strip()}'")
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        options[known[key]] = value
    return options


class Param:
    """One agent parameter, for metadata: the stdin name, its getopt spelling, type, default, description."""

    __slots__ = ("default", "getopt", "name", "required", "shortdesc", "type")

    def __init__(self, name: str, getopt: str, shortdesc: str, type: str = "string", default: str | None = None,
                 required: bool = False) -> None:  # fmt: skip
        self.name, self.getopt, self.shortdesc = name, getopt, shortdesc
        self.type, self.default, self.required = type, default, required


def metadata_xml(name: str, shortdesc: str, longdesc: str, params: Iterable[Param], actions: Iterable[str]) -> str:
    """The ``metadata`` action's XML, shaped like fence-agents' (``resource-agent`` / ``parameters`` /
    ``actions``) so that tools reading agent metadata (pcs, ccs, our validator) understand it."""
    out = [
        '<?xml version="1.0" ?>',
        f"<resource-agent name={quoteattr(name)} shortdesc={quoteattr(shortdesc)} >",
        f"<longdesc>{_escape(longdesc)}</longdesc>",
        "<vendor-url>https://github.com/quorate</vendor-url>",
        "<parameters>",
    ]
    for p in params:
        default = f" default={quoteattr(p.default)}" if p.default is not None else ""
        out += [
            f'\t<parameter name={quoteattr(p.name)} unique="0" required="{int(p.required)}">',
            f"\t\t<getopt mixed={quoteattr(p.getopt)} />",
            f'\t\t<content type="{p.type}"{default} />',
            f'\t\t<shortdesc lang="en">{_escape(p.shortdesc)}</shortdesc>',
            "\t</parameter>",
        ]
    out += ["</parameters>", "<actions>"]
    out += [f'\t<action name="{action}" />' for action in actions]
    out += ["</actions>", "</resource-agent>"]
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    """An XML attribute value in double quotes."""
    return '"' + _escape(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;") + '"'


# --------------------------------------------------------------------------------------- switch client
class SwitchClient:
    """One authenticated connection to the power switch; every wait is bounded by ``timeout``."""

    def __init__(self, address: str, port: int, secret: str, *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._buffer = b""
        self._sock = self._connect(address, port, timeout)
        answer = self.request(f"AUTH {secret}")
        if answer != "OK":
            self.close()
            raise AgentError(f"The power switch refused the login: {answer}")

    @staticmethod
    def _connect(address: str, port: int, timeout: float) -> _socket.socket:
        """The first address of ``address`` that accepts, as `socket.create_connection` would pick."""
        try:
            found = _socket.getaddrinfo(address.encode(), port, 0, _socket.SOCK_STREAM)
        except OSError as exc:
            raise AgentError(f"Unable to connect to the power switch at {address}:{port}: {_os_reason(exc)}") from exc
        failure: OSError = OSError(f"no address for {address}")
        for family, kind, proto, _, where in found:
            sock = _socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(where)
                return sock
            except OSError as exc:
                failure = exc
                sock.close()
        raise AgentError(f"Unable to connect to the power switch at {address}:{port}: {_os_reason(failure)}")

    def request(self, line: str, timeout: float | None = None) -> str:
        """Send one command, return its one-line answer (``ERR …`` included: the caller decides)."""
        try:
            self._sock.settimeout(timeout or self.timeout)
            self._sock.sendall(line.encode() + b"\n")
        except OSError as exc:
            raise AgentError(f"Connection to the power switch lost: {_os_reason(exc)}") from exc
        return self._read_line(timeout)

    def _read_line(self, timeout: float | None = None) -> str:
        self._sock.settimeout(timeout or self.timeout)
        try:
            while b"\n" not in self._buffer:
                chunk = self._sock.recv(4096)
                if not chunk:
                    raise AgentError("Connection to the power switch lost (no answer)")
                self._buffer += chunk
        except OSError as exc:
            raise AgentError(f"Connection to the power switch lost: {_os_reason(exc)}") from exc
        answer, _, self._buffer = self._buffer.partition(b"\n")
        return answer.decode(errors="replace").strip()

    def lines_until_ok(self, line: str) -> list[str]:
        """A multi-line answer (``LIST``): every line up to the closing ``OK``."""
        lines = []
        answer = self.request(line)
        while answer != "OK":
            if answer.startswith("ERR"):
                raise AgentError(f"The power switch said: {answer}")
            lines.append(answer)
            answer = self._read_line()
        return lines

    def status(self, node: str) -> bool:
        """True for ON; raises AgentError when the switch cannot tell."""
        answer = self.request(f"STATUS {node}")
        if answer in ("ON", "OFF"):
            return answer == "ON"
        raise AgentError(f"Unable to obtain the power status of {node}: {answer}")

    def command(self, verb: str, node: str, timeout: float) -> None:
        answer = self.request(f"{verb} {node}", timeout)
        if not answer.startswith("OK"):
            raise AgentError(f"The power switch refused {verb} {node}: {answer}")

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> SwitchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or str(exc)


# ------------------------------------------------------------------------------------------------- agent
PARAMS = (
    Param("action", "-o, --action=[action]", "Fencing action", default="reboot"),
    Param("ipaddr", "-a, --ip=[ip]", "IP address or hostname of the power switch", default=DEFAULT_ADDRESS),
    Param("ipport", "-u, --ipport=[port]", "TCP port of the power switch", "integer", str(DEFAULT_PORT)),
    Param("login", "-l, --username=[name]", "Login name (accepted and ignored: the switch has one secret)"),
    Param("passwd", "-p, --password=[password]", "The switch's secret", required=True),
    Param("passwd_script", "-S, --password-script=[script]", "Script that prints the switch's secret"),
    Param("port", "-n, --plug=[id]", "Testbed node to act on (default: nodename)"),
    Param("nodename", "--nodename=[name]", "Name of the node to fence (set by the cluster)"),
    Param("power_timeout", "--power-timeout=[seconds]", "Wait for the new power state", "second", "20"),
    Param("login_timeout", "--login-timeout=[seconds]", "Wait for the switch to answer", "second", "5"),
    Param("delay", "--delay=[seconds]", "Wait before fencing", "second", "0"),
)
#: Accepted spellings -> canonical name (fence-agents' internal keys and long option names).
KNOWN = {
    "action": "action", "option": "action", "ipaddr": "ipaddr", "ip": "ipaddr", "ipport": "ipport",
    "login": "login", "username": "login", "passwd": "passwd", "password": "passwd",
    "passwd_script": "passwd_script", "password_script": "passwd_script", "port": "port", "plug": "port",
    "nodename": "nodename", "power_timeout": "power_timeout", "login_timeout": "login_timeout",
    "delay": "delay", "agent": "agent", "verbose": "verbose", "debug": "debug", "debug_file": "debug",
    "stonith_status_sleep": "stonith_status_sleep", "shell_timeout": "shell_timeout",
}  # fmt: skip


def _argv_options(argv: Sequence[str]) -> dict[str, str]:
    import argparse

    parser = argparse.ArgumentParser(prog="fence_netns", description="Fence agent for the quorate testbed switch")
    add = parser.add_argument
    add("-o", "--action", dest="action")
    add("-a", "--ip", dest="ipaddr")
    add("-u", "--ipport", dest="ipport")
    add("-l", "--username", dest="login")
    add("-p", "--password", dest="passwd")
    add("-S", "--password-script", dest="passwd_script")
    add("-n", "--plug", dest="port")
    add("--nodename", dest="nodename")
    add("--power-timeout", dest="power_timeout")
    add("--login-timeout", dest="login_timeout")
    add("--delay", dest="delay")
    add("-v", "--verbose", action="store_true")
    return {k: v for k, v in vars(parser.parse_args(list(argv))).items() if isinstance(v, str)}


def _number(options: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(options.get(name, default))
    except ValueError as exc:
        raise AgentError(f"Failed: {name} must be a number, not {options[name]!r}") from exc


def _secret(options: Mapping[str, str]) -> str:
    if "passwd" in options:
        return options["passwd"]
    script = options.get("passwd_script")
    if script:
        import subprocess

        try:
            done = subprocess.run(script, shell=True, capture_output=True, text=True, timeout=10, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AgentError("Failed: the password script timed out") from exc
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.splitlines()[0].strip()
        raise AgentError("Failed: the password script gave no password")
    raise AgentError("Failed: You have to enter fence password (passwd=...)")


def _wait_state(client: SwitchClient, node: str, want_on: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if client.status(node) == want_on:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def _switch(client: SwitchClient, node: str, on: bool, power_timeout: float, out: Callable[[str], None]) -> None:
    word = "ON" if on else "OFF"
    if client.status(node) == on:
        out(f"Success: Already {word}")
        return
    client.command(word, node, power_timeout + 5.0)
    if not _wait_state(client, node, on, power_timeout):
        raise AgentError(f"Failed: Timed out waiting to power {word}")
    out(f"Success: Powered {word}")


def run(options: Mapping[str, str], out: Callable[[str], None], err: Callable[[str], None]) -> int:
    """Carry out one action; returns the exit status. Separate from `main` so tests can call it."""
    action = options.get("action", "reboot").lower()
    if action == "meta-data":
        action = "metadata"
    if action == "metadata":
        text = metadata_xml("fence_netns", "Fence agent for quorate's testbed power switch", __doc__ or "",
                            PARAMS, ACTIONS)  # fmt: skip
        out(text.rstrip("\n"))
        return EXIT_OK
    if action not in ACTIONS:
        err(f"Failed: Unrecognised action '{action}'")
        return EXIT_FAIL
    node = options.get("port") or options.get("nodename") or ""
    try:
        secret = _secret(options)
        if action in ("off", "on", "reboot", "status") and not node:
            raise AgentError("Failed: You have to enter plug number or machine identification (port=...)")
        port = int(_number(options, "ipport", DEFAULT_PORT))
        power_timeout = _number(options, "power_timeout", 20.0)
        login_timeout = _number(options, "login_timeout", 5.0)
        delay = _number(options, "delay", 0.0)
        if action == "validate-all":
            return EXIT_OK
        if delay > 0 and action in ("off", "reboot"):
            time.sleep(delay)
        with SwitchClient(options.get("ipaddr", DEFAULT_ADDRESS), port, secret, timeout=login_timeout) as client:
            return _act(client, action, node, power_timeout, out, err)
    except AgentError as exc:
        err(str(exc) if str(exc).startswith("Failed") else f"Failed: {exc}")
        return EXIT_FAIL


def _act(client: SwitchClient, action: str, node: str, power_timeout: float, out: Callable[[str], None],
         err: Callable[[str], None]) -> int:  # fmt: skip
    if action == "status":
        on = client.status(node)
        out(f"Status: {'ON' if on else 'OFF'}")
        return EXIT_OK if on else EXIT_OFF
    if action in ("monitor", "list", "list-status"):
        for line in client.lines_until_ok("LIST"):
            name, _, state = line.partition(" ")
            alias = name.split(".", 1)[0]
            if action == "list":
                out(f"{name},{alias}")
            elif action == "list-status":
                out(f"{name},{alias},{state or 'UNKNOWN'}")
        return EXIT_OK
    quiet: Callable[[str], None] = lambda _: None  # noqa: E731 - reboot reports once, at the end
    if action in ("off", "reboot"):
        _switch(client, node, False, power_timeout, out if action == "off" else quiet)
    if action == "on":
        _switch(client, node, True, power_timeout, out)
    if action == "reboot":
        try:  # the node is fenced once it is off; a failed power-on does not undo that (fence-agents' rule)
            _switch(client, node, True, power_timeout, quiet)
        except AgentError as exc:
            err(f"Warning: the node is off but did not power on again: {exc}")
        out("Success: Rebooted")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    options = _argv_options(args) if args else parse_stdin(sys.stdin.read(), KNOWN, _stderr)
    return run(options, print, _stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
