"""A BMC per testbed node: OpenIPMI's ``ipmi_sim`` on the testbed LAN, so Debian's ``fence_ipmilan`` runs unchanged.

Theory of operation: a real cluster fences through a node's baseboard management controller over
IPMI-over-LAN (UDP 623). ``ipmi_sim`` (Debian package ``openipmi``) is a complete BMC that speaks that
protocol, including RMCP+ (``lanplus``), and delegates the chassis power to an external program: its
``chassis_control "<command>"`` setting runs ``<command> get power`` (answer ``power:1``/``power:0`` on
stdout) and ``<command> set power 0|1``. Our command is this module's ``hook``, which asks the testbed's
power switch (``power.py``) over its line protocol, so IPMI power and switch power are one and the same:
the node is really killed and booted. The switch must therefore be running first.

Each node's BMC runs in the switch namespace, listening on 192.168.0.(100+nodeid) port 623 (the address is
added to the switch's bridge), reachable from every node and not from the machine. Files live in
``<run dir>/ipmi/<short name>/``; the generated configuration, documented here because it is the part that
matters for reproducing this by hand:

``lan.conf`` (ipmi_lan(5))::

    name "<prefix>-<short>"               # names the BMC (and its persistence directory)
    set_working_mc 0x20                   # configure the BMC's own management controller
      startlan 1                          # LAN channel 1
        addr 192.168.0.102 623            # where fence_ipmilan connects
        priv_limit admin
        allowed_auths_admin none md2 md5 straight     # the same line for callback, user, operator
        guid <32 hex digits>              # RMCP+ (lanplus) needs a GUID
      endlan
      chassis_control "<python> -m quorate.testbed.ipmi hook --prefix <prefix> --node <node>"
      user 2 true "<login>" "<password>" admin 10 none md2 md5 straight

``sim.emu`` (ipmi_sim_cmd(5)), the commands that create the BMC: ``mc_setbmc 0x20``, ``mc_add 0x20 0
no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr`` (device id, revision, firmware and IPMI version,
capabilities and ids, as ipmi_sim's example BMC), ``mc_enable 0x20``.

It runs as ``ipmi_sim -c lan.conf -f sim.emu -s <state dir> -n``. Call ``fence_ipmilan`` with
``ipaddr=192.168.0.(100+nodeid) login=… passwd=… lanplus=1 cipher=3``: with lanplus and no cipher, every call
spends ~14 s probing cipher suites (docs/design.md, Fence agents). IPMI passwords are at most 16 characters (IPMI 1.5
limit), so the BMC password is its own setting rather than the switch's secret.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from quorate.agents.fence_netns import DEFAULT_ADDRESS, DEFAULT_PORT, AgentError, SwitchClient
from quorate.testbed import procs
from quorate.testbed.conf import SUBNET_PREFIX, TestbedError, switch_netns
from quorate.testbed.power import PID_FILE, SECRET_FILE, _in_netns, add_switch_address, forget_finished
from quorate.testbed.state import load, run_dir
from quorate.testbed.testbed import Testbed

IPMI_PORT = 623
BMC_ADDRESS_BASE = 100
DEFAULT_LOGIN = "admin"
DEFAULT_PASSWORD = "quorate"
START_TIMEOUT = 10.0


def bmc_address(nodeid: int) -> str:
    """The BMC of node ``nodeid`` answers on 192.168.0.(100+nodeid)."""
    return f"{SUBNET_PREFIX}{BMC_ADDRESS_BASE + nodeid}"


def lan_conf(name: str, address: str, port: int, hook: str, login: str, password: str) -> str:
    """The ipmi_sim LAN configuration for one BMC (see the module docstring)."""
    auths = "none md2 md5 straight"
    return "\n".join([
        f'name "{name}"',
        "set_working_mc 0x20",
        "  startlan 1",
        f"    addr {address} {port}",
        "    priv_limit admin",
        *(f"    allowed_auths_{level} {auths}" for level in ("callback", "user", "operator", "admin")),
        "    guid a0b1c2d3e4f5061728394a5b6c7d8e9f",
        "  endlan",
        f'  chassis_control "{hook}"',
        f'  user 2 true "{login}" "{password}" admin 10 {auths}',
        "",
    ])  # fmt: skip


SIM_EMU = "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"


@dataclass
class IpmiSim:
    """A running simulated BMC for one node."""

    prefix: str
    node: str
    address: str
    port: int
    login: str
    password: str
    pid: int
    proc: subprocess.Popen[bytes] | None = None

    def fence_options(self) -> dict[str, str]:
        """fence_ipmilan options reaching this BMC (stdin names)."""
        return {"ipaddr": self.address, "ipport": str(self.port), "login": self.login, "passwd": self.password,
                "lanplus": "1", "cipher": "3"}  # fmt: skip

    def stop(self, timeout: float = 5.0) -> None:
        if procs.is_alive(self.pid) and _in_netns(self.pid, switch_netns(self.prefix)):
            procs.terminate(self.pid, timeout)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        _RUNNING.pop((self.prefix, self.node), None)

    def __enter__(self) -> IpmiSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_RUNNING: dict[tuple[str, str], IpmiSim] = {}


def _check_word(what: str, value: str, limit: int) -> str:
    if not value or len(value) > limit or any(ch.isspace() or ch in '"\\' for ch in value):
        raise TestbedError(f"IPMI {what} must be 1..{limit} characters without spaces, quotes or backslashes")
    return value


def start_ipmi_sim(
    tb: Testbed, node: str, *, login: str = DEFAULT_LOGIN, password: str = DEFAULT_PASSWORD, port: int = IPMI_PORT,
    timeout: float = START_TIMEOUT,
) -> IpmiSim:  # fmt: skip
    """Start the BMC of ``node`` (the testbed's power switch must be running); returns once it listens."""
    if not (run_dir(tb.prefix) / PID_FILE).exists():
        raise TestbedError("start the power switch (start_power_switch) before an IPMI simulator")
    entry = next(n for n in load(tb.prefix).nodes if n.name == tb.node_dir(node).name)
    full, short = entry.name, entry.short
    address = bmc_address(entry.nodeid)
    _check_word("login", login, 16)
    _check_word("password", password, 16)
    forget_finished(_RUNNING)
    old = _RUNNING.get((tb.prefix, full))
    if old is not None:
        old.stop()
    directory = run_dir(tb.prefix) / "ipmi" / short
    (directory / "state").mkdir(parents=True, exist_ok=True)
    hook = f"{sys.executable} -m quorate.testbed.ipmi hook --prefix {tb.prefix} --node {full}"
    (directory / "lan.conf").write_text(lan_conf(f"{tb.prefix}-{short}", address, port, hook, login, password))
    (directory / "sim.emu").write_text(SIM_EMU)
    switch_ns = switch_netns(tb.prefix)
    add_switch_address(switch_ns, address)
    argv = ["ip", "netns", "exec", switch_ns, "ipmi_sim", "-c", str(directory / "lan.conf"),
            "-f", str(directory / "sim.emu"), "-s", str(directory / "state"), "-n"]  # fmt: skip
    with open(directory / "ipmi_sim.log", "ab") as log:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=directory,
                                    start_new_session=True)  # fmt: skip
        except FileNotFoundError as exc:
            raise TestbedError("ip is not installed") from exc
    sim = IpmiSim(tb.prefix, full, address, port, login, password, proc.pid, proc)
    if not _wait_listening(proc, address, port, timeout):
        sim.stop()
        log_text = (directory / "ipmi_sim.log").read_text(errors="replace").strip()[-300:]
        raise TestbedError(f"ipmi_sim for {full} did not listen on {address}:{port}: {log_text or 'no output'}")
    _RUNNING[(tb.prefix, full)] = sim
    return sim


def _udp_key(address: str, port: int) -> str:
    """How /proc/net/udp writes a local address: the IPv4 address as a little-endian hex word, then the port."""
    packed = socket.inet_aton(address)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def _wait_listening(proc: subprocess.Popen[bytes], address: str, port: int, timeout: float) -> bool:
    key = _udp_key(address, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            table = Path(f"/proc/{proc.pid}/net/udp").read_text()
        except OSError:
            return False
        if any(line.split()[1] == key for line in table.splitlines()[1:] if len(line.split()) > 1):
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------------------------------- hook
def hook(prefix: str, node: str, words: list[str]) -> int:
    """ipmi_sim's chassis_control program: ``get power…`` prints ``power:0|1``; ``set power 0|1`` switches.

    Errors go to stdout (ipmi_sim logs what the program printed) with exit status 1.
    """
    try:
        secret = (run_dir(prefix) / SECRET_FILE).read_text().strip()
        if not words:
            raise AgentError("no operation given")
        op, parms = words[0], words[1:]
        with SwitchClient(DEFAULT_ADDRESS, DEFAULT_PORT, secret, timeout=10.0) as client:
            if op == "get":
                for parm in parms:
                    if parm == "power":
                        print(f"power:{int(client.status(node))}")
                    elif parm == "boot":
                        print("boot:default")
                    else:
                        raise AgentError(f"Invalid parameter: {parm}")
                return 0
            if op == "set":
                for parm, value in zip(parms[::2], parms[1::2], strict=False):
                    if parm == "power":
                        client.command("ON" if value == "1" else "OFF", node, 60.0)
                    elif parm == "reset" and value == "1":
                        client.command("OFF", node, 60.0)
                        client.command("ON", node, 60.0)
                return 0
            raise AgentError(f"operation {op} is not supported")
    except (AgentError, OSError) as exc:
        print(f"quorate ipmi hook: {exc}", flush=True)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quorate.testbed.ipmi")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("hook", help="ipmi_sim chassis_control program")
    run.add_argument("--prefix", required=True)
    run.add_argument("--node", required=True)
    run.add_argument("words", nargs="*")
    args = parser.parse_args(argv)
    return hook(args.prefix, args.node, args.words)


if __name__ == "__main__":
    sys.exit(main())
