"""One poller for every open page: quorated is asked twice a second, pages get only what changed.

Theory of operation: however many browsers are open, one task asks the daemon for its status every ``period``
seconds (in a worker thread: the control socket is blocking) and renders the sections of `fragments`. Sections
whose HTML differs from the previous round go to every subscriber's queue as one event; a new subscriber first
gets every current section, so a page that loaded a little earlier is brought up to date at once. A subscriber
that does not keep up (a stalled tab) does not grow a backlog: its pending changes are merged by section, so the
next event it sends carries the latest HTML of everything that changed in between, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from quorate.web import fragments
from quorate.web.link import Link, Unreachable


class Subscriber:
    """One open event stream: the sections changed since it last sent, merged."""

    def __init__(self) -> None:
        self.pending: dict[str, str] = {}
        self.ready = asyncio.Event()

    def offer(self, changed: dict[str, str]) -> None:
        self.pending.update(changed)
        self.ready.set()

    async def next(self, timeout: float) -> dict[str, str]:
        """The changes since the last call; empty after ``timeout`` seconds without any (a keep-alive is due)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)
        self.ready.clear()
        changed, self.pending = self.pending, {}
        return changed


class Poller:
    def __init__(self, link: Link, period: float = 0.5, on_round: Callable[[], None] | None = None) -> None:
        self.link = link
        self.period = period
        self.current: dict[str, str] = {}
        self.status: dict[str, Any] | None = None
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._on_round = on_round

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="quorate-web-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        if self.current:
            sub.offer(dict(self.current))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def refresh(self) -> dict[str, str]:
        """One round now: ask the daemon, render, push what changed; returns the sections that changed."""
        try:
            status: dict[str, Any] | None = await asyncio.to_thread(self.link.status)
            config = await asyncio.to_thread(self.link.config, status.get("config_file") if status else None)
            rendered = fragments.sections(status, config) if status else {}
        except Unreachable as exc:
            status, rendered = None, fragments.unreachable(str(exc))
        self.status = status
        changed = {k: v for k, v in rendered.items() if self.current.get(k) != v}
        # A section that vanished (a service removed from cluster.conf) is emptied on the pages that show it.
        changed.update({k: "" for k in self.current if k not in rendered})
        self.current = rendered
        if changed:
            for sub in self.subscribers:
                sub.offer(changed)
        return changed

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await self.refresh()
            if self._on_round is not None:
                self._on_round()
            await asyncio.sleep(max(0.05, self.period - (loop.time() - began)))
