"""Configuration files for the node core's distribution: validation, the staged and the live file, activation.

The core (`quorate.core.config_dist`) decides; this module checks files with the same loader and rules as
`quorate config validate` and `quorate config diff` (`check_successor`), writes the staged copy next to
cluster.conf (``cluster.conf.staged``) and the live file atomically (the previous one kept as
``cluster.conf.<version>``), and reports back: `ConfigStaged` for a `Stage`, `AdoptRefused` for an `Adopt`
that does not validate here, and `ConfigActivated` once a new file is live, for every core to take it.

Parsing a pushed file (up to 1 MiB, thousands of elements) takes a noticeable time, and the event loop also
carries heartbeats: the parse therefore runs in a worker thread (`asyncio.to_thread`), and the effects are
carried out one after another by one task, in the order the core gave them, so a `Discard` can never
overtake the `Stage` it cancels. Only the pure parse leaves the loop; the comparison with the running
configuration and every file write stay on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

from quorate.config import ConfigError, parse_config
from quorate.config.changes import check_successor
from quorate.config.files import write_config_atomically
from quorate.config.model import ClusterConfig
from quorate.config.to_core import activation
from quorate.core.config_dist import Activate, Adopt, Discard, Stage
from quorate.core.node_io import AdoptRefused, ConfigStaged, Report


def problems_text(exc: ConfigError) -> str:
    return "; ".join(str(p) for p in exc.errors) or str(exc)


class ConfigFiles:
    """``current()`` is the running configuration, ``members()`` the names of the view's members;
    ``activated(cfg)`` tells the daemon (addresses, executor trees) before the core hears of it."""

    def __init__(
        self,
        config: ClusterConfig,
        local_id: int,
        *,
        current: Callable[[], ClusterConfig],
        members: Callable[[], list[str]],
        activated: Callable[[ClusterConfig], None],
        report: Callable[[Report], None],
        log: Callable[[str, str], None],
    ) -> None:
        self.local_id = local_id
        self.current = current
        self.members = members
        self.on_activated = activated
        self.report = report
        self.log = log
        self.path = Path(config.source) if config.source and os.path.isfile(config.source) else None
        self._pending: deque[Stage | Activate | Adopt | Discard] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._parsing = asyncio.Lock()

    def data(self) -> bytes:
        """The bytes of the running file (what distribution hands to joining nodes)."""
        return self.path.read_bytes() if self.path is not None else b""

    @property
    def staged_path(self) -> Path | None:
        return None if self.path is None else self.path.with_name(self.path.name + ".staged")

    def check(self, data: bytes, *, members_rule: bool) -> tuple[ClusterConfig | None, str]:
        """The candidate file as this node would run it, or why not (located problems, one line each)."""
        return self._judge(self._parse(data), members_rule=members_rule)

    async def check_off_loop(self, data: bytes, *, members_rule: bool) -> tuple[ClusterConfig | None, str]:
        """`check`, with the parse in a worker thread so the event loop keeps serving meanwhile."""
        async with self._parsing:  # one parse at a time: the loader's RelaxNG validator is shared
            parsed = await asyncio.to_thread(self._parse, data)
        return self._judge(parsed, members_rule=members_rule)

    def _parse(self, data: bytes) -> ClusterConfig | str:
        source = str(self.path) if self.path is not None else "cluster.conf"
        try:
            return parse_config(data, source=source)
        except ConfigError as exc:
            return problems_text(exc)

    def _judge(self, parsed: ClusterConfig | str, *, members_rule: bool) -> tuple[ClusterConfig | None, str]:
        if isinstance(parsed, str):
            return None, parsed
        problems = check_successor(self.current(), parsed, members=self.members() if members_rule else ())
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            return None, "; ".join(str(p) for p in errors)
        return parsed, ""

    def carry_out(self, effect: Stage | Activate | Adopt | Discard) -> None:
        """Queue the effect; one task carries the queue out in order (see the module docstring)."""
        self._pending.append(effect)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def idle(self) -> None:
        """Wait until every queued effect has been carried out."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    async def _drain(self) -> None:
        while self._pending:
            await self._carry_out(self._pending.popleft())

    async def _carry_out(self, effect: Stage | Activate | Adopt | Discard) -> None:
        if isinstance(effect, Stage):
            await self._stage(effect)
        elif isinstance(effect, Activate):
            candidate, error = await self.check_off_loop(effect.data, members_rule=False)
            if candidate is None:  # cannot happen for a file this node staged; never activate blindly
                self.log(f"configuration version {effect.version} not activated: {error}", "error")
                return
            self._activate(candidate, effect.data, effect.why)
        elif isinstance(effect, Adopt):
            candidate, error = await self.check_off_loop(effect.data, members_rule=False)
            if candidate is None:
                self.report(AdoptRefused(effect.version, effect.digest, error))
            else:
                self._activate(candidate, effect.data, "fetched from the cluster")
        else:
            if self.staged_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.staged_path.unlink()
            self.log(f"staged configuration dropped: {effect.why}", "info")

    async def _stage(self, effect: Stage) -> None:
        candidate, error = await self.check_off_loop(effect.data, members_rule=True)
        if candidate is not None and self.staged_path is not None:
            try:
                write_config_atomically(self.staged_path, effect.data, keep_previous=False)
            except OSError as exc:
                candidate, error = None, f"cannot write {self.staged_path}: {exc.strerror or exc}"
        if candidate is None:
            self.log(f"configuration version {effect.version} refused here: {error}", "warning")
        else:
            self.log(f"configuration version {effect.version} validated and staged", "info")
        self.report(ConfigStaged(effect.tx, effect.digest, candidate is not None, error))

    def _activate(self, candidate: ClusterConfig, data: bytes, why: str) -> None:
        old = self.current()
        if self.path is not None:
            try:
                write_config_atomically(self.path, data)
            except OSError as exc:
                text = f"cannot write {self.path}: {exc.strerror or exc}; still running {old.config_version}"
                self.log(text, "error")
                return
            if self.staged_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.staged_path.unlink()
        event = activation(old, candidate, self.local_id, data)
        self.on_activated(candidate)
        self.report(event)
        self.log(f"configuration version {candidate.config_version} active (was {old.config_version}): {why}", "info")
