"""Where a service may run and which node is best: rgmanager's failover-domain scores (spec rhcs.md 5.5).

Pure functions of the service's configuration, the online nodes and who runs what. Scores are rgmanager's:
ILLEGAL < GOOD < BETTER < BEST. Automatic starts need BEST; an administrator's enable needs GOOD (R-44);
restricted domains are never violated. Ties between equally good targets go to the highest node id, as
rgmanager's `best_target_node` did (R-43, a quirk kept so that placements match the original).

`score`, `best_target` and `can_run` are the plain statement of those rules, recomputing everything they need
from their arguments. The coordinator asks them about every service of a failed node within one evaluation,
against the same online set; recomputing "who runs what" and each domain's best online priority for every
question made placing M services cost O(M^2). `Placer` answers the same questions over one online set with
that knowledge kept: who runs what is an index it is told about as records change, and each domain's best
online priority is worked out once. Its answers are the plain functions' answers (a property test holds it
to that on random clusters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from quorate.core.service_vocabulary import Answer

ILLEGAL, GOOD, BETTER, BEST = 0, 1, 2, 3
SCORE_NAMES = {ILLEGAL: "ILLEGAL", GOOD: "GOOD", BETTER: "BETTER", BEST: "BEST"}


@dataclass(frozen=True, slots=True)
class DomainSpec:
    name: str
    ordered: bool
    restricted: bool
    nofailback: bool
    priorities: Mapping[int, int]  # node id -> priority (lower is preferred); 0 for every node when unordered


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    autostart: bool = True
    domain: DomainSpec | None = None
    recovery: str = "restart"
    exclusive: bool = False
    max_restarts: int = 0
    restart_expire_time: float = 0.0
    depend: str | None = None
    status_interval: float = 10.0
    extra: Mapping[str, str] = field(default_factory=dict)


def score(spec: ServiceSpec, node: int, online: frozenset[int], *, running_on: int = 0) -> int:
    """R-40: how much `node` wants `spec`. `running_on` is the live owner when the service runs (for nofailback)."""
    if node not in online:
        return ILLEGAL
    domain = spec.domain
    if domain is None:
        return BEST
    members_online = {n for n in domain.priorities if n in online}
    if node not in domain.priorities:
        if not members_online:
            return ILLEGAL if domain.restricted else BEST
        return ILLEGAL if domain.restricted else GOOD
    prio_min = min(domain.priorities[n] if domain.ordered else 0 for n in members_online)
    mine = domain.priorities[node] if domain.ordered else 0
    if mine != prio_min:
        if domain.nofailback and running_on == node:
            return BEST
        return BETTER if domain.ordered else BEST
    if domain.nofailback and running_on and running_on != node and running_on in online:
        return BETTER
    return BEST


def best_target(
    spec: ServiceSpec,
    online: frozenset[int],
    *,
    exclude: frozenset[int] = frozenset(),
    services_on: Mapping[int, frozenset[str]] | None = None,
    exclusive_services: frozenset[str] = frozenset(),
    running_on: int = 0,
    minimum: int = BEST,
) -> tuple[int | None, str]:
    """R-43: the node to start `spec` on, or None, with the reason in one sentence."""
    services_on = services_on or {}
    best: tuple[int, int] | None = None
    refused: list[str] = []
    for node in sorted(online - exclude):
        s = score(spec, node, online, running_on=running_on)
        there = services_on.get(node, frozenset()) - {spec.name}
        if s == ILLEGAL:
            continue
        if spec.exclusive:
            if there:
                refused.append(f"node {node} runs other services (exclusive)")
                continue
            s += 2
        elif there & exclusive_services:
            refused.append(f"node {node} runs an exclusive service")
            continue
        if s < minimum + (2 if spec.exclusive else 0):
            continue
        if best is None or s >= best[0]:  # >=: ties go to the highest node id (R-43 quirk)
            best = (s, node)
    if best is None:
        if spec.domain is not None and spec.domain.restricted and not (set(spec.domain.priorities) & online):
            return None, f"no member of its restricted failover domain {spec.domain.name} is online"
        why = "; ".join(refused) if refused else "no online node is allowed by its failover domain"
        return None, why
    return best[1], f"best node by failover domain ({SCORE_NAMES[min(best[0], BEST)]})"


def can_run(
    spec: ServiceSpec,
    node: int,
    online: frozenset[int],
    *,
    services_on: Mapping[int, frozenset[str]] | None = None,
    exclusive_services: frozenset[str] = frozenset(),
    minimum: int = GOOD,
) -> Answer | None:
    """Whether an administrator may put `spec` on `node` (R-44, R-45); None if yes, else rgmanager's refusal."""
    if node not in online:
        return Answer.NODE_DEAD
    if score(spec, node, online) < minimum:
        return Answer.NOT_RUNNABLE
    there = (services_on or {}).get(node, frozenset()) - {spec.name}
    if spec.exclusive and there:
        return Answer.EXCLUSIVE
    if there & exclusive_services:
        return Answer.EXCLUSIVE
    return None


class Placer:
    """`best_target` and `can_run` for many services against one online set, at O(N) per question.

    ``running`` gives (service, node) for every service that runs, as `ServiceLedger.running_map` would; the
    caller keeps it current with `moved` as records change between questions.
    """

    def __init__(
        self, online: frozenset[int], running: Iterable[tuple[str, int]], exclusive_services: frozenset[str]
    ) -> None:
        self.online = online
        self.nodes = sorted(online)
        self.exclusive_services = exclusive_services
        self.where: dict[str, int] = {}
        self.services_on: dict[int, set[str]] = {}
        for name, node in running:
            self.moved(name, node)
        # id(domain) -> (the domain, kept alive so that its id stays its own; its best online priority or None)
        self._tops: dict[int, tuple[DomainSpec, int | None]] = {}

    def moved(self, name: str, node: int) -> None:
        """Service ``name`` now runs on ``node`` (0: nowhere)."""
        before = self.where.get(name, 0)
        if before == node:
            return
        if before:
            self.services_on[before].discard(name)
            del self.where[name]
        if node:
            self.where[name] = node
            self.services_on.setdefault(node, set()).add(name)

    def _top(self, domain: DomainSpec) -> int | None:
        """The best (lowest) priority among the domain's online members; None when none is online."""
        cached = self._tops.get(id(domain))
        if cached is not None and cached[0] is domain:
            return cached[1]
        online = [n for n in domain.priorities if n in self.online]
        top = min(domain.priorities[n] if domain.ordered else 0 for n in online) if online else None
        self._tops[id(domain)] = (domain, top)
        return top

    def score(self, spec: ServiceSpec, node: int, *, running_on: int = 0) -> int:
        """`score` over this online set."""
        if node not in self.online:
            return ILLEGAL
        domain = spec.domain
        if domain is None:
            return BEST
        top = self._top(domain)
        if node not in domain.priorities:
            if top is None:
                return ILLEGAL if domain.restricted else BEST
            return ILLEGAL if domain.restricted else GOOD
        mine = domain.priorities[node] if domain.ordered else 0
        if mine != top:
            if domain.nofailback and running_on == node:
                return BEST
            return BETTER if domain.ordered else BEST
        if domain.nofailback and running_on and running_on != node and running_on in self.online:
            return BETTER
        return BEST

    def _others(self, spec: ServiceSpec, node: int) -> tuple[bool, bool]:
        """(whether ``node`` runs services other than ``spec``, whether one of them is exclusive)."""
        there = self.services_on.get(node)
        if not there:
            return False, False
        mine = 1 if spec.name in there else 0
        if len(there) <= mine:
            return False, False
        if not self.exclusive_services:
            return True, False
        return True, bool((there & self.exclusive_services) - {spec.name})

    def best_target(
        self,
        spec: ServiceSpec,
        *,
        exclude: frozenset[int] = frozenset(),
        running_on: int = 0,
        minimum: int = BEST,
    ) -> tuple[int | None, str]:
        """`best_target` over this online set and the services running now."""
        best: tuple[int, int] | None = None
        refused: list[str] = []
        for node in self.nodes:
            if node in exclude:
                continue
            s = self.score(spec, node, running_on=running_on)
            if s == ILLEGAL:
                continue
            busy, exclusive_there = self._others(spec, node)
            if spec.exclusive:
                if busy:
                    refused.append(f"node {node} runs other services (exclusive)")
                    continue
                s += 2
            elif exclusive_there:
                refused.append(f"node {node} runs an exclusive service")
                continue
            if s < minimum + (2 if spec.exclusive else 0):
                continue
            if best is None or s >= best[0]:  # >=: ties go to the highest node id (R-43 quirk)
                best = (s, node)
        if best is None:
            if spec.domain is not None and spec.domain.restricted and self._top(spec.domain) is None:
                return None, f"no member of its restricted failover domain {spec.domain.name} is online"
            why = "; ".join(refused) if refused else "no online node is allowed by its failover domain"
            return None, why
        return best[1], f"best node by failover domain ({SCORE_NAMES[min(best[0], BEST)]})"

    def can_run(self, spec: ServiceSpec, node: int, *, minimum: int = GOOD) -> Answer | None:
        """`can_run` over this online set and the services running now."""
        if node not in self.online:
            return Answer.NODE_DEAD
        if self.score(spec, node) < minimum:
            return Answer.NOT_RUNNABLE
        busy, exclusive_there = self._others(spec, node)
        if spec.exclusive and busy:
            return Answer.EXCLUSIVE
        if exclusive_there:
            return Answer.EXCLUSIVE
        return None
