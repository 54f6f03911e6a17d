"""Fence a node: run its configured fence methods once, in order, and say what happened in one sentence.

Theory of operation (F-20..F-27; docs/design.md, Fence agents): a victim's ``<fence>`` lists methods; they are tried
in document order and the first method whose devices *all* succeed ends the pass (OR across methods, AND
inside one). The first failing device aborts its method. Each device is one agent run: the program is the
``<fencedevice>``'s ``agent`` looked up in PATH, started with no arguments, fed ``name=value`` lines on stdin
(F-22 order: the ``<device>`` element's attributes, then ``nodename=``, then the fencedevice's attributes
including ``agent=``). Success is exit status 0 and nothing else: a non-zero status, a signal, an agent
that cannot be started and our own deadline are all failures, whatever the agent printed. fenced imposed no
deadline; quorate does (``timeout``, per agent run), because a hung agent would otherwise block recovery
forever, and ``run_agent`` kills the whole process group when it expires.

This module makes no decision about *whether* or *when* to fence and never retries: the caller (the fencing
core through the daemon) owns the retry loop of F-21 and the override/acknowledgement channels. One pass
returns a `FenceOutcome` whose ``reason`` is ready for the log, and whose attempts keep each agent's output
tail with secrets filtered out, for the fencing event record.

``fence_manual`` is special: the daemon never runs it as a subprocess. The executor awaits the
``manual_ack`` callable the daemon supplies (it completes when an administrator runs ``fence_ack_manual``),
with no deadline, as F-30 never timed out; cancelling ``fence_once`` is the way to stop waiting.

Two renames keep old configurations working: ``option=`` (the RHCS 5 spelling, which fence-agents 4.12
silently ignores and then *reboots* by default) is passed as ``action=``; and ``action`` given to
`fence_once` replaces whatever action the configuration sets (``on`` for unfencing).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from quorate.config.model import ClusterConfig, ClusterNode, FenceDevice, FenceDeviceRef, FenceMethod
from quorate.system.process import AgentResult, run_agent

log = logging.getLogger("quorate.fence")

#: The agent quorate handles in the daemon instead of running it (F-30).
MANUAL_AGENT = "fence_manual"
#: Exit codes with a meaning (F-26); anything else is reported as "not a fence-agent exit code".
EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_OFF = 2
#: Actions for which exit status 2 means "reachable, target off" rather than failure.
STATUS_ACTIONS = frozenset({"status", "monitor"})
#: Characters of agent output kept per attempt.
TAIL_CHARS = 600
ACK_REASON = "acknowledged by the administrator"

_SECRET_RE = re.compile(
    r"passw|secret|community|token|api_?key|access_?key|private_?key|(?:^|_)kg$", re.IGNORECASE
)

Runner = Callable[..., Awaitable[AgentResult]]
ManualAck = Callable[[], Awaitable[None]]


class FenceConfigError(ValueError):
    """The configuration cannot produce agent input (unknown fencedevice, a line break in a value)."""


@dataclass(frozen=True, slots=True)
class DeviceAttempt:
    """One device of one method: what ran and how it ended. ``returncode`` is None when the agent could not
    start, timed out or was a manual acknowledgement that never came; ``error`` says why it failed."""

    method: str
    device: str
    agent: str
    returncode: int | None
    timed_out: bool
    error: str | None
    output_tail: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def summary(self) -> str:
        """``fence_ipmilan exited 1 (Unable to connect)``: the device's result in a few words."""
        if self.ok:
            return f"{self.agent} succeeded"
        return self.error or f"{self.agent} failed"


@dataclass(frozen=True, slots=True)
class FenceOutcome:
    """The result of one pass over a victim's methods; ``method`` names the one that worked."""

    success: bool
    method: str | None
    attempts: tuple[DeviceAttempt, ...]
    reason: str


# --------------------------------------------------------------------------------------------- arguments
def is_manual(device: FenceDevice | str) -> bool:
    """Is this the manual-acknowledgement "agent" (by fencedevice or by agent name)?"""
    agent = device if isinstance(device, str) else device.agent
    return agent.rsplit("/", 1)[-1] == MANUAL_AGENT


def _is_secret(name: str) -> bool:
    return bool(_SECRET_RE.search(name.replace("-", "_")))


def mask(stdin_text: str) -> str:
    """Agent input fit for a log: the value of every credential-like line (``passwd``, ``password``,
    ``passwd_script``, ``snmp_priv_passwd``, ``community``, IPMI's ``hexadecimal_kg``…) replaced by ``***``."""
    lines = []
    for line in stdin_text.splitlines():
        name, sep, _ = line.partition("=")
        lines.append(f"{name}=***" if sep and _is_secret(name.strip()) else line)
    return "\n".join(lines) + ("\n" if stdin_text.endswith("\n") else "")


def _secret_values(stdin_text: str) -> list[str]:
    values = []
    for line in stdin_text.splitlines():
        name, sep, value = line.partition("=")
        if sep and _is_secret(name.strip()) and len(value.strip()) >= 3:
            values.append(value.strip())
    return sorted(set(values), key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """Remove secrets an agent may echo back ("Ignoring unknown option 'passwd=…'") from its output."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _check_value(owner: str, name: str, value: str) -> str:
    if any(mark in text for mark in ("\n", "\r", "\0") for text in (name, value)):
        raise FenceConfigError(
            f"{owner}: attribute {name!r} contains a line break or NUL, which would inject agent input"
        )
    return value


def fence_arguments(
    config: ClusterConfig, victim: ClusterNode, ref: FenceDeviceRef, action: str | None = None
) -> tuple[str, str]:
    """The agent program and its stdin for one ``<device>`` of ``victim`` (spec F-22, in that order).

    ``option=`` is renamed ``action=``. With ``action``, every configured action is replaced by it (in place,
    so the F-22 order holds) and, if none was configured, ``action=`` follows the device's own lines.
    """
    device = config.fencedevice(ref.name)
    if device is None:
        raise FenceConfigError(f"no fencedevice named {ref.name!r} (used by {victim.name})")

    def convert(pairs: Sequence[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
        out = []
        for name, value in pairs:
            if name == "name":
                continue
            _check_value(owner, name, value)
            if name == "option":
                name = "action"
            if name == "action" and action is not None:
                value = action
            out.append((name, value))
        return out

    node_lines = convert(ref.attrs, f"device {ref.name} of {victim.name}")
    device_lines = convert((("agent", device.agent), *device.attrs), f"fencedevice {device.name}")
    if action is not None and not any(name == "action" for name, _ in node_lines + device_lines):
        node_lines.append(("action", action))
    if not any(name == "nodename" for name, _ in node_lines):
        node_lines.append(("nodename", _check_value(f"node {victim.name!r}", "nodename", victim.name)))
    text = "".join(f"{name}={value}\n" for name, value in node_lines + device_lines)
    return device.agent, text


# ---------------------------------------------------------------------------------------------- results
def _tail(result: AgentResult, secrets: Sequence[str]) -> str:
    text = _scrub((result.stdout + result.stderr).strip(), secrets)
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
    return text[-TAIL_CHARS:]


def _headline(tail: str) -> str:
    """The line of agent output that best explains a failure (skipping Python warnings), shortened."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    lines = [line for line in lines if "Warning" not in line and not line.startswith("from ")] or lines
    wanted = [line for line in lines if re.search(r"fail|error|unable|denied|refused|timed? ?out", line, re.I)]
    line = (wanted or lines or [""])[-1]
    line = re.sub(r"^\d{4}-\d\d-\d\d[ T][\d:,.]+\s+", "", line)  # fencing.py's timestamp
    return line if len(line) <= 120 else line[:117] + "..."


def exit_meaning(action: str | None, returncode: int) -> tuple[bool, str]:
    """(ok, words) for an agent's exit status under F-26; for status/monitor, 2 is a successful "off"."""
    if returncode == EXIT_SUCCESS:
        return True, "status ON" if action == "status" else "succeeded"
    if returncode == EXIT_OFF and action in STATUS_ACTIONS:
        return True, "status OFF"
    if returncode < 0:
        return False, f"was killed by signal {-returncode}"
    if returncode in (EXIT_FAILURE, EXIT_OFF):
        return False, f"exited {returncode}"
    return False, f"exited {returncode} (not a fence-agent exit code)"


def _attempt(method: str, ref: FenceDeviceRef, agent: str, result: AgentResult, action: str | None,
             secrets: Sequence[str]) -> DeviceAttempt:  # fmt: skip
    tail = _tail(result, secrets)
    headline = _headline(tail)
    error: str | None
    if result.error is not None:
        error = _scrub(result.error, secrets)
    elif result.timed_out:
        error = f"{agent} timed out after {result.duration:.1f} s and was killed"
    elif result.returncode is None:
        error = f"{agent} ended without an exit status"
    else:
        ok, words = exit_meaning(action, result.returncode)
        error = None if ok else f"{agent} {words}" + (f" ({headline})" if headline else "")
    return DeviceAttempt(method, ref.name, agent, result.returncode, result.timed_out, error, tail, result.duration)


# ------------------------------------------------------------------------------------------------ running
async def _run_device(
    config: ClusterConfig,
    victim: ClusterNode,
    method: FenceMethod,
    ref: FenceDeviceRef,
    *,
    action: str | None,
    run: Runner,
    timeout: float,
    manual_ack: ManualAck | None,
) -> DeviceAttempt:
    device = config.fencedevice(ref.name)
    agent = device.agent if device else "?"
    if device is not None and is_manual(device):
        if action == "on":  # unfencing: a reset node needs nothing undone
            return DeviceAttempt(method.name, ref.name, agent, 0, False, None, "nothing to undo", 0.0)
        if action in STATUS_ACTIONS:
            error = f"{agent} cannot report a power status"
            return DeviceAttempt(method.name, ref.name, agent, None, False, error, "", 0.0)
        return await _manual(method.name, ref, agent, victim, manual_ack)
    try:
        program, stdin = fence_arguments(config, victim, ref, action)
    except FenceConfigError as exc:
        return DeviceAttempt(method.name, ref.name, agent, None, False, str(exc), "", 0.0)
    log.info("fence %s: method %s, device %s (%s)", victim.name, method.name, ref.name, program)
    log.debug("fence %s: %s input:\n%s", victim.name, program, mask(stdin))
    result = await run([program], stdin=stdin, timeout=timeout)
    attempt = _attempt(method.name, ref, program, result, action, _secret_values(stdin))
    log.log(logging.INFO if attempt.ok else logging.WARNING, "fence %s: device %s: %s (%.1f s)",
            victim.name, ref.name, attempt.summary, attempt.duration)  # fmt: skip
    return attempt


async def _manual(
    method: str, ref: FenceDeviceRef, agent: str, victim: ClusterNode, manual_ack: ManualAck | None
) -> DeviceAttempt:
    """F-30: wait, without a deadline, until an administrator acknowledges that the victim was reset."""
    if manual_ack is None:
        error = f"{agent} needs an administrator's acknowledgement (fence_ack_manual) and none can be received here"
        return DeviceAttempt(method, ref.name, agent, None, False, error, "", 0.0)
    log.critical(
        "Node %s needs to be reset before recovery can procede. Waiting for %s to rejoin the cluster or for "
        "manual acknowledgement that it has been reset (i.e. fence_ack_manual -n %s)",
        victim.name, victim.name, victim.name,
    )  # fmt: skip
    start = time.monotonic()
    await manual_ack()
    return DeviceAttempt(method, ref.name, agent, 0, False, None, ACK_REASON, time.monotonic() - start)


def _verb(action: str | None) -> str:
    if action in (None, "off", "reboot"):
        return "fenced"
    return "unfenced" if action == "on" else f"ran {action} on"


def _success_reason(victim: str, method: str, attempts: Sequence[DeviceAttempt], action: str | None) -> str:
    agents = list(dict.fromkeys(a.agent for a in attempts))
    detail = ", ".join(agents)
    if any(a.output_tail == ACK_REASON and a.agent == MANUAL_AGENT for a in attempts):
        detail += f", {ACK_REASON}"
    seconds = sum(a.duration for a in attempts)
    return f"{_verb(action)} {victim} with method {method} ({detail}, {seconds:.1f} s)"


def _failure_reason(victim: str, failures: Sequence[DeviceAttempt], methods: int) -> str:
    parts = "; ".join(f"{a.method}: {a.summary}" for a in failures)
    head = f"method {failures[0].method} failed" if methods == 1 else f"all {methods} methods failed"
    return f"{head} for {victim}: {parts}"


async def fence_once(
    config: ClusterConfig,
    victim_name: str,
    *,
    action: str | None = None,
    run: Runner = run_agent,
    timeout: float = 60.0,
    manual_ack: ManualAck | None = None,
) -> FenceOutcome:
    """One pass over the victim's methods (F-20); never raises for agent or configuration trouble.

    ``timeout`` bounds each agent run; ``run`` is `run_agent` or a test double with its signature;
    ``manual_ack`` is awaited for ``fence_manual`` devices. The caller retries (F-21) and records.
    """
    victim = config.node_by_name(victim_name)
    if victim is None:
        return FenceOutcome(False, None, (), f"cannot fence {victim_name}: not a node of cluster {config.name}")
    if not victim.fence:
        return FenceOutcome(False, None, (), f"no fence method configured for {victim.name}")
    attempts: list[DeviceAttempt] = []
    failures: list[DeviceAttempt] = []
    for method in victim.fence:
        if not method.devices:
            empty = DeviceAttempt(method.name, "", "", None, False, f"method {method.name} has no device", "", 0.0)
            failures.append(empty)
            attempts.append(empty)
            continue
        done: list[DeviceAttempt] = []
        for ref in method.devices:
            attempt = await _run_device(
                config, victim, method, ref, action=action, run=run, timeout=timeout, manual_ack=manual_ack
            )
            done.append(attempt)
            if not attempt.ok:
                failures.append(attempt)
                break
        attempts += done
        if all(a.ok for a in done):
            reason = _success_reason(victim.name, method.name, done, action)
            log.info("%s", reason)
            return FenceOutcome(True, method.name, tuple(attempts), reason)
    reason = _failure_reason(victim.name, failures, len(victim.fence))
    log.error("%s", reason)
    return FenceOutcome(False, None, tuple(attempts), reason)
