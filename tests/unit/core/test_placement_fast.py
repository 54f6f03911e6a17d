"""The coordinator's fast placement and incremental evaluation decide exactly as the plain ones do.

`Placer` keeps who runs what and each domain's best online priority for a whole evaluation; `score`,
`best_target` and `can_run` recompute everything for every question. On random clusters (domains ordered or
not, restricted or not, nofailback or not, exclusive services, excluded nodes, running owners) both must give
the same answers, reasons included. And whole clusters of resource managers driven through failures, rejoins,
failing starts and administrator requests must command the same starts and stops, log the same sentences and
publish the same tables with the coordinator's fast path (a placer kept for the evaluation, only the records
whose facts changed looked at again) as with the straightforward one (every record recomputed from scratch
after every event).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from services_wiring import Cluster

from quorate.core import service_decisions
from quorate.core.placement import (
    BEST,
    GOOD,
    DomainSpec,
    Placer,
    ServiceSpec,
    best_target,
    can_run,
    score,
)
from quorate.core.service_records import ServiceLedger

NODES = range(1, 7)


@st.composite
def domains(draw: st.DrawFn) -> DomainSpec | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    members = draw(st.sets(st.sampled_from(NODES), max_size=5))
    ordered = draw(st.booleans())
    priorities = {n: (draw(st.integers(1, 3)) if ordered else 0) for n in sorted(members)}
    return DomainSpec(
        "dom", ordered=ordered, restricted=draw(st.booleans()), nofailback=draw(st.booleans()), priorities=priorities
    )


@st.composite
def clusters(draw: st.DrawFn) -> tuple[dict[str, ServiceSpec], frozenset[int], dict[str, int]]:
    count = draw(st.integers(1, 8))
    specs = {
        f"s{i}": ServiceSpec(f"s{i}", domain=draw(domains()), exclusive=draw(st.integers(0, 4)) == 0)
        for i in range(count)
    }
    online = frozenset(draw(st.sets(st.sampled_from(NODES))))
    running = {name: draw(st.sampled_from([0, *NODES])) for name in specs}
    return specs, online, running


def _services_on(running: dict[str, int]) -> dict[int, frozenset[str]]:
    out: dict[int, set[str]] = {}
    for name, node in running.items():
        if node:
            out.setdefault(node, set()).add(name)
    return {n: frozenset(s) for n, s in out.items()}


@settings(max_examples=400, deadline=None)
@given(
    clusters(),
    st.frozensets(st.sampled_from(NODES)),
    st.sampled_from([0, *NODES]),
    st.sampled_from([GOOD, BEST]),
    st.data(),
)
def test_placer_answers_as_the_plain_rules(cluster, exclude, running_on, minimum, data) -> None:  # type: ignore[no-untyped-def]
    specs, online, running = cluster
    exclusive = frozenset(n for n, s in specs.items() if s.exclusive)
    placer = Placer(online, running.items(), exclusive)
    # Moves told after the fact count as if the index had been built with them.
    moves = data.draw(st.lists(st.tuples(st.sampled_from(sorted(specs)), st.sampled_from([0, *NODES])), max_size=4))
    for name, node in moves:
        running[name] = node
        placer.moved(name, node)
    services_on = _services_on(running)
    for spec in specs.values():
        assert placer.best_target(spec, exclude=exclude, running_on=running_on, minimum=minimum) == best_target(
            spec,
            online,
            exclude=exclude,
            services_on=services_on,
            exclusive_services=exclusive,
            running_on=running_on,
            minimum=minimum,
        )
        for node in NODES:
            assert placer.score(spec, node, running_on=running_on) == score(spec, node, online, running_on=running_on)
            assert placer.can_run(spec, node, minimum=minimum) == can_run(
                spec, node, online, services_on=services_on, exclusive_services=exclusive, minimum=minimum
            )


class PlainPlacer:
    """The straightforward placement: every question recomputes who runs what from the records."""

    def __init__(self, ledger: ServiceLedger) -> None:
        self.ledger = ledger

    def _exclusive(self) -> frozenset[str]:
        return frozenset(n for n, s in self.ledger.specs.items() if s.exclusive)

    def best_target(self, spec, *, exclude=frozenset(), running_on=0, minimum=BEST):  # type: ignore[no-untyped-def]
        return best_target(spec, self.ledger.members, exclude=exclude, services_on=self.ledger.running_map(),
                           exclusive_services=self._exclusive(), running_on=running_on, minimum=minimum)  # fmt: skip

    def can_run(self, spec, node, *, minimum=GOOD):  # type: ignore[no-untyped-def]
        return can_run(spec, node, self.ledger.members, services_on=self.ledger.running_map(),
                       exclusive_services=self._exclusive(), minimum=minimum)  # fmt: skip

    def score(self, spec, node, *, running_on=0):  # type: ignore[no-untyped-def]
        return score(spec, node, self.ledger.members, running_on=running_on)


_evaluate = service_decisions.evaluate


def evaluate_everything(ledger: ServiceLedger, now: float) -> None:
    """The straightforward evaluation: every record, every time, whatever changed."""
    ledger.evaluate_all = True
    _evaluate(ledger, now)


@contextmanager
def plain_placement() -> Iterator[None]:
    with (
        mock.patch.object(service_decisions, "_placer", PlainPlacer),
        mock.patch.object(service_decisions, "evaluate", evaluate_everything),
    ):
        yield


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("crash"), st.integers(1, 4)),
        st.tuples(st.just("restart"), st.integers(1, 4)),
        st.tuples(st.just("relocate"), st.integers(0, 7), st.integers(1, 4)),
        st.tuples(st.just("disable"), st.integers(0, 7)),
        st.tuples(st.just("enable"), st.integers(0, 7)),
        st.tuples(st.just("fail_start"), st.integers(0, 7), st.integers(1, 4)),
        st.tuples(st.just("status_failed"), st.integers(0, 7)),
        st.tuples(st.just("advance"), st.integers(1, 8)),
    ),
    max_size=10,
)


def _run(specs: dict[str, ServiceSpec], steps: list[tuple[int | str, ...]]) -> tuple[object, ...]:
    c = Cluster(specs, n=4)
    names = sorted(specs)
    c.form({1, 2, 3, 4})
    for step in steps:
        kind = step[0]
        if kind == "crash" and step[1] in c.members and len(c.members) > 1:
            c.gone.add(int(step[1]))
            c.crash(int(step[1]))
        elif kind == "restart" and step[1] not in c.alive:
            c.gone.discard(int(step[1]))
            c.restart(int(step[1]))
        elif kind == "relocate":
            c.request(min(c.members), "relocate", names[int(step[1]) % len(names)], int(step[2]))
        elif kind in ("disable", "enable"):
            c.request(min(c.members), kind, names[int(step[1]) % len(names)])
        elif kind == "status_failed":
            name = names[int(step[1]) % len(names)]
            owners = c.started_on(name)
            if owners:
                c.status_failed(owners[0], name)
        elif kind == "advance":
            c.advance(float(step[1]))
        elif kind == "fail_start":
            c.fail.add((int(step[2]), names[int(step[1]) % len(names)], service_decisions.Action.START))
    tables = {i: [(r.name, r.state, r.owner, r.version, r.reason) for r in m.table()] for i, m in c.managers.items()}
    return list(c.commands), list(c.logs), tables


@st.composite
def node_domains(draw: st.DrawFn) -> DomainSpec | None:
    if draw(st.integers(0, 3)) == 0:
        return None
    members = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True))
    ordered = draw(st.booleans())
    return DomainSpec("dom", ordered=ordered, restricted=draw(st.booleans()), nofailback=draw(st.booleans()),
                      priorities={n: (rank if ordered else 0) for rank, n in enumerate(members, start=1)})  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(node_domains(), st.integers(0, 6)), min_size=1, max_size=8),
    STEPS,
)
def test_clusters_decide_the_same_with_fast_and_plain_placement(services, steps) -> None:  # type: ignore[no-untyped-def]
    specs = {
        f"svc{i}": ServiceSpec(f"svc{i}", domain=dom, exclusive=flag == 0, recovery="relocate")
        for i, (dom, flag) in enumerate(services)
    }
    fast = _run(specs, steps)
    with plain_placement():
        plain = _run(specs, steps)
    assert fast == plain
