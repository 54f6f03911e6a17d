"""Configuration distribution's shell: validation, staged and live files, and activation in the running daemon.

The core (`quorate.core.config_dist`) decides; this module checks files with the same loader and rules as
`quorate config validate` and `quorate config diff` (`check_successor`), writes the staged copy next to
cluster.conf (``cluster.conf.staged``) and the live file atomically (the previous one kept as
``cluster.conf.<version>``), then hands the new configuration to every subsystem without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from quorate.config import ConfigError, parse_config
from quorate.config.changes import check_successor
from quorate.config.files import write_config_atomically
from quorate.config.model import ClusterConfig
from quorate.core.config_dist import (
    Activate,
    Adopt,
    ConfigDistribution,
    Discard,
    PushDone,
    Stage,
)
from quorate.core.effects import Log, Send

if TYPE_CHECKING:
    from quorate.node.daemon import Daemon

PUSH_TIMEOUT_FLOOR = 10.0


def problems_text(exc: ConfigError) -> str:
    return "; ".join(str(p) for p in exc.errors) or str(exc)


class ConfigShell:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        cfg = daemon.config
        self.path = Path(cfg.source) if cfg.source and os.path.isfile(cfg.source) else None
        data = self.path.read_bytes() if self.path is not None else b""
        timeout = max(PUSH_TIMEOUT_FLOOR, 2 * cfg.token_ms / 1000.0)
        self.core = ConfigDistribution(
            daemon.local.nodeid,
            cfg.config_version,
            data,
            names={n.nodeid: n.name for n in cfg.nodes},
            timeout=timeout,
            first_tx=daemon.store.state.boot_epoch,
        )
        self.waiting: dict[int, asyncio.Future[tuple[bool, str]]] = {}
        self._req = 0

    @property
    def staged_path(self) -> Path | None:
        return None if self.path is None else self.path.with_name(self.path.name + ".staged")

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    # ------------------------------------------------------------------------------------- checks

    def check(self, data: bytes, *, members_rule: bool) -> tuple[ClusterConfig | None, str]:
        """The candidate file as this node would run it, or why not (located problems, one line each)."""
        source = str(self.path) if self.path is not None else "cluster.conf"
        try:
            candidate = parse_config(data, source=source)
        except ConfigError as exc:
            return None, problems_text(exc)
        members = [n.name for n in self.daemon.config.nodes if n.nodeid in self.daemon.membership.members]
        problems = check_successor(self.daemon.config, candidate, members=members if members_rule else ())
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            return None, "; ".join(str(p) for p in errors)
        return candidate, ""

    # ---------------------------------------------------------------------------------- requests

    async def push(self, data: bytes, *, dry_run: bool = False) -> tuple[bool, str]:
        """`ccs_tool update FILE` / `quorate config push FILE`, typed on this node."""
        candidate, error = self.check(data, members_rule=True)
        if candidate is None:
            return False, f"refused on {self.daemon.local.name}: {error}"
        if dry_run:
            return True, (
                f"would distribute config version {candidate.config_version} "
                f"(running {self.daemon.config.config_version}); nothing sent"
            )
        self._req += 1
        req = self._req
        future: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        self.waiting[req] = future
        self.core.push(self.now(), req, data, candidate.config_version)
        self.daemon.flush()
        try:
            return await asyncio.wait_for(future, self.core.timeout * 3)
        except TimeoutError:
            return False, f"no answer in time; this node runs version {self.core.version}"
        finally:
            self.waiting.pop(req, None)

    # ----------------------------------------------------------------------------------- effects

    def carry_out(self) -> None:
        for _ in range(20):
            effects = self.core.take_effects()
            if not effects:
                return
            for effect in effects:
                if isinstance(effect, Send):
                    self.daemon.send(effect)
                elif isinstance(effect, Log):
                    self.daemon.log_line(effect.text, effect.level)
                elif isinstance(effect, Stage):
                    self._stage(effect)
                elif isinstance(effect, Activate):
                    candidate, error = self.check(effect.data, members_rule=False)
                    if candidate is None:  # cannot happen for a file this node staged; never activate blindly
                        self.daemon.log_line(f"configuration version {effect.version} not activated: {error}", "error")
                        continue
                    self._activate(candidate, effect.data, effect.why)
                elif isinstance(effect, Adopt):
                    candidate, error = self.check(effect.data, members_rule=False)
                    if candidate is None:
                        self.core.adopt_refused(effect.version, effect.digest, error)
                    else:
                        self._activate(candidate, effect.data, "fetched from the cluster")
                elif isinstance(effect, Discard):
                    if self.staged_path is not None:
                        with contextlib.suppress(FileNotFoundError):
                            self.staged_path.unlink()
                    self.daemon.log_line(f"staged configuration dropped: {effect.why}")
                elif isinstance(effect, PushDone):
                    future = self.waiting.get(effect.req)
                    if future is not None and not future.done():
                        future.set_result((effect.ok, effect.text))

    def _stage(self, effect: Stage) -> None:
        candidate, error = self.check(effect.data, members_rule=True)
        if candidate is not None and self.staged_path is not None:
            try:
                write_config_atomically(self.staged_path, effect.data, keep_previous=False)
            except OSError as exc:
                candidate, error = None, f"cannot write {self.staged_path}: {exc.strerror or exc}"
        if candidate is None:
            self.daemon.log_line(f"configuration version {effect.version} refused here: {error}", "warning")
        else:
            self.daemon.log_line(f"configuration version {effect.version} validated and staged")
        self.core.staged_result(self.now(), effect.tx, effect.digest, candidate is not None, error)

    def _activate(self, candidate: ClusterConfig, data: bytes, why: str) -> None:
        old = self.daemon.config.config_version
        if self.path is not None:
            try:
                write_config_atomically(self.path, data)
            except OSError as exc:
                self.daemon.log_line(f"cannot write {self.path}: {exc.strerror or exc}; still running {old}", "error")
                return
            if self.staged_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.staged_path.unlink()
        self.daemon.apply_config(candidate)
        self.core.activated(candidate.config_version, data)
        self.daemon.log_line(f"configuration version {candidate.config_version} active (was {old}): {why}")
