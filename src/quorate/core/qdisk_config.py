"""What the quorum-disk core needs from ``<quorumd>``, and qdiskd's own timing checks (docs/rules.md, Quorum
disk settings; D-30, D-31).

Theory of operation
-------------------
The core must not import the configuration package (import-linter contract: the core depends on nothing),
so it states the settings it reads as a structural `QdiskSettings` protocol. The parsed
`quorate.config.model.Quorumd` satisfies it as is; `QdiskParams` is a plain value that satisfies it too and
allows fractional intervals, which the simulator and the tests use (0.2 s cycles instead of 3 s).

Timing checks are warnings, never refusals: [R6] qdiskd refused to start when the disk timings did not fit
the token, which would make the article's own configuration (3 s x 20 against a 10 s token) unusable. We
say what is wrong and by how much, and keep running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class HeuristicSpec(Protocol):
    """One ``<heuristic>``: a shell command whose success adds ``score`` (D-25)."""

    @property
    def program(self) -> str: ...

    @property
    def score(self) -> int: ...

    @property
    def interval(self) -> int | float: ...

    @property
    def tko(self) -> int: ...


class QdiskSettings(Protocol):
    """The effective ``<quorumd>`` values the core reads (docs/rules.md, Quorum disk settings)."""

    @property
    def interval(self) -> int | float: ...

    @property
    def tko(self) -> int: ...

    @property
    def tko_up(self) -> int: ...

    @property
    def upgrade_wait(self) -> int: ...

    @property
    def master_wait(self) -> int: ...

    @property
    def votes(self) -> int: ...

    @property
    def min_score(self) -> int: ...

    @property
    def reboot(self) -> bool: ...

    @property
    def allow_kill(self) -> bool: ...

    @property
    def master_wins(self) -> bool: ...

    @property
    def paranoid(self) -> bool: ...

    @property
    def io_timeout(self) -> bool: ...

    @property
    def max_error_cycles(self) -> int: ...

    @property
    def stop_cman(self) -> bool: ...

    @property
    def heuristics(self) -> Sequence[HeuristicSpec]: ...


@dataclass(frozen=True, slots=True)
class HeuristicParams:
    program: str
    score: int = 1
    interval: float = 2.0
    tko: int = 1


@dataclass(frozen=True, slots=True)
class QdiskParams:
    """A `QdiskSettings` value with the derived defaults of docs/rules.md (Quorum disk settings); fractional
    intervals allowed.

    ``QdiskParams.derived(interval=0.2, tko=5)`` fills tko_up, master_wait and upgrade_wait the way the
    configuration layer does (tko/3 at least 2; tko/2 and above tko_up; 2).
    """

    interval: float
    tko: int
    tko_up: int
    upgrade_wait: int
    master_wait: int
    votes: int
    label: str | None = None
    device: str | None = None
    min_score: int = 0
    reboot: bool = True
    allow_kill: bool = True
    master_wins: bool = False
    paranoid: bool = False
    io_timeout: bool = False
    max_error_cycles: int = 0
    stop_cman: bool = False
    heuristics: tuple[HeuristicParams, ...] = ()
    status_file: str | None = None

    @classmethod
    def derived(
        cls,
        *,
        interval: float = 1.0,
        tko: int = 10,
        votes: int = 1,
        tko_up: int | None = None,
        master_wait: int | None = None,
        upgrade_wait: int = 2,
        heuristics: tuple[HeuristicParams, ...] = (),
        min_score: int | None = None,
        **flags: bool | int | str | None,
    ) -> QdiskParams:
        up = qdisk_tko_up(tko, tko_up)
        wait = qdisk_master_wait(tko, up, master_wait)
        if min_score is None:
            min_score = sum(h.score for h in heuristics) // 2 + 1 if heuristics else 0
        return cls(
            interval=interval,
            tko=tko,
            tko_up=up,
            upgrade_wait=max(upgrade_wait, 1),
            master_wait=wait,
            votes=votes,
            min_score=min_score,
            heuristics=heuristics,
            **flags,  # type: ignore[arg-type]
        )


def qdisk_tko_up(tko: int, explicit: int | None) -> int:
    """Consecutive good cycles before a node counts as online on the disk: tko/3 by default, at least 2."""
    return max(tko // 3 if explicit is None else explicit, 2)


def qdisk_master_wait(tko: int, tko_up: int, explicit: int | None) -> int:
    """Cycles a bidder waits: tko/2 by default, and always more than tko_up, as qdiskd forces it."""
    value = tko // 2 if explicit is None else explicit
    return tko_up + 1 if value <= tko_up else value


def required_score(settings: QdiskSettings, score_max: int) -> int:
    """Score needed to be fit: ``min_score`` or the code's automatic floor(max/2) + 1 (a quirk, D-12)."""
    return settings.min_score if settings.min_score > 0 else score_max // 2 + 1


def timing_warnings(settings: QdiskSettings, token_ms: int | None) -> list[str]:
    """qdiskd's own timing checks (D-31, T-2, T-3), as sentences for the log."""
    out: list[str] = []
    interval = float(settings.interval)
    if settings.tko < 4:
        out.append(f"tko={settings.tko} is below 4: one slow disk access can get a healthy node evicted")
    max_score = sum(h.score for h in settings.heuristics)
    if settings.heuristics and settings.min_score > max_score:
        out.append(
            f"Minimum score ({settings.min_score}) is impossible to achieve (heuristic total = {max_score}); "
            "no node will ever be fit"
        )
    if token_ms is None:
        return out
    if token_ms < 10000:
        out.append(f"Configured totem token ({token_ms} ms) is too fast to use with qdiskd (10000 ms or more)")
    transition_ms = round(interval * (settings.tko + settings.master_wait + settings.upgrade_wait) * 1000)
    if transition_ms >= token_ms:
        out.append(
            f"Quorum disk timings are too slow for configured token timeout: a master transition takes up to "
            f"{transition_ms} ms (interval x (tko + master_wait + upgrade_wait)); the token should be at least "
            f"{transition_ms + round(interval * 1000)} ms, it is {token_ms} ms"
        )
    timeout_ms = round(interval * settings.tko * 1000)
    if token_ms < 2 * timeout_ms:
        out.append(
            f"The token ({token_ms} ms) should be at least twice the quorum disk timeout "
            f"({timeout_ms} ms = interval x tko), so the disk decides before membership does"
        )
    return out
