"""``script``: an LSB init script run as ``<file> start|stop|status`` (R-86; docs/design.md, LSB init scripts).

Theory of operation: like rgmanager's script.sh, the agent first validates ``file`` (exists, not a directory
or device, not empty, executable; OCF codes 5, 2, 1, 4) and then runs the script with the action as its only
argument, in rgmanager's environment (``OCF_RESKEY_service_name`` etc.). **Any non-zero exit is a failure**,
including LSB ``status`` 3 ("not running") and a ``stop`` that fails on an already-stopped service: that is
rgmanager's contract and the article's service relies on it. The outcome's ``rc`` translates the LSB code to
OCF the way Pacemaker does (status 1/2/3 → 7 not running, 150 → 5, 151 → 4; other actions pass 0–7 through),
and the message names the LSB meaning, so clustat can say "status returned 3 (program is not running)".

Reference counting (R-73): when the same script resource is also active in another service on this node
(``ctx.refcnt > 0``), ``stop`` does not run the script: stopping one service must not kill the daemon the
other still uses. The last user's stop runs it. (rgmanager only exported the count; quorate acts on it.)

Init scripts usually leave a daemon behind, so they run through `run_detached` (output to a file, not a pipe).
"""

from __future__ import annotations

import os
import stat

from quorate.config.rgtree import Node
from quorate.resources.agents.base import (
    OCF_ERR_ARGS,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    Agent,
    AgentContext,
    AgentOutcome,
    failure,
    from_result,
    rgmanager_environment,
    run_detached,
    success,
    summary,
)

LSB_STATUS_TEXT = {
    0: "program is running",
    1: "program is dead and /var/run pid file exists",
    2: "program is dead and /var/lock lock file exists",
    3: "program is not running",
    4: "program or service status is unknown",
}


def lsb_to_ocf(action: str, code: int) -> int:
    """Pacemaker's mapping of LSB exit codes to OCF ones (docs/design.md, LSB init scripts)."""
    if action == "status":
        return {0: 0, 1: 7, 2: 7, 3: 7, 150: 5, 151: 4}.get(code, 1)
    return code if 0 <= code <= 7 else 1


def validate(path: str | None) -> AgentOutcome | None:
    """script.sh's validate-all: a failed outcome, or None when the file can be run."""
    if not path:
        return failure(OCF_ERR_ARGS, "no file given")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return failure(OCF_ERR_INSTALLED, f"{path} does not exist")
    except OSError as exc:
        return failure(OCF_ERR_INSTALLED, f"{path}: {exc.strerror}")
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, what in kinds:
        if test(info.st_mode):
            return failure(OCF_ERR_ARGS, f"{path} is {what}")
    if info.st_size == 0:
        return failure(OCF_ERR_GENERIC, f"{path} is empty")
    if not os.access(path, os.X_OK):
        return failure(OCF_ERR_PERM, f"{path} is not executable")
    return None


class ScriptAgent(Agent):
    type = "script"

    async def _run(self, res: Node, action: str, ctx: AgentContext, depth: int = 0) -> AgentOutcome:
        path = res.get("file")
        invalid = validate(path)
        if invalid is not None:
            return invalid
        assert path is not None
        env = rgmanager_environment(res, ctx, depth=depth)
        result, output = await run_detached([path, action], env=env, timeout=ctx.remaining())
        broken = from_result(result, f"{path} {action}")
        if broken is not None:
            return AgentOutcome(False, broken.rc, broken.message, timed_out=broken.timed_out, output=output)
        code = result.returncode
        assert code is not None
        said = summary(output)
        if code == 0:
            return success(f"{path} {action}: ok", output)
        if code in (126, 127):
            return failure(
                OCF_ERR_INSTALLED, f"{path} {action}: cannot run it ({said or f'exit {code}'})", output=output
            )
        meaning = LSB_STATUS_TEXT.get(code, "failed") if action == "status" else "failed"
        detail = f": {said}" if said else ""
        return failure(lsb_to_ocf(action, code), f"{path} {action} returned {code} ({meaning}){detail}", output=output)

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return await self._run(res, "start", ctx)

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        if ctx.refcnt > 0:
            return success(f"{res.get('file')} still used by {ctx.refcnt} other service(s) on this node; not stopped")
        return await self._run(res, "stop", ctx)

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return await self._run(res, "status", ctx, depth)
