"""Checking a file stays linear in the number of sibling elements, with or without a problem on each of them.

Thousands of siblings once made validation quadratic (numbering each reported element by scanning its siblings,
listing every node in every message, comparing every mistake with every name). The bound is on the ratio of
two sizes, not on an absolute time, so a slow or busy machine does not fail it; four times the elements must
take well under sixteen times as long (the fastest of a few runs of each size is compared).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from quorate.config import ConfigError, parse_config

HEAD = '<?xml version="1.0"?>\n<cluster name="big" config_version="1">'


def nodes(n: int) -> str:
    return "".join(f'<clusternode name="n{i}" nodeid="{i}"/>\n' for i in range(1, n + 1))


def nodes_without_fencing(n: int) -> str:
    """Valid, with a warning on every node."""
    return f"{HEAD}<clusternodes>\n{nodes(n)}</clusternodes></cluster>\n"


def domain_members_that_are_not_nodes(n: int) -> str:
    members = "".join(f'<failoverdomainnode name="x{i}"/>\n' for i in range(n))
    return (
        f'{HEAD}<clusternodes>{nodes(n // 4)}</clusternodes><rm><failoverdomains><failoverdomain name="d">\n'
        f"{members}</failoverdomain></failoverdomains></rm></cluster>\n"
    )


def services_in_missing_domains(n: int) -> str:
    domain = '<failoverdomain name="d{}"><failoverdomainnode name="n1"/></failoverdomain>'
    domains = "".join(domain.format(i) for i in range(n // 10))
    services = "".join(f'<service name="s{i}" domain="e{i}"/>\n' for i in range(n))
    return (
        f"{HEAD}<clusternodes>{nodes(1)}</clusternodes><rm><failoverdomains>{domains}</failoverdomains>"
        f"{services}</rm></cluster>\n"
    )


def duplicate_node_names(n: int) -> str:
    doubled = "".join(f'<clusternode name="n{i // 2}" nodeid="{i + 1}"/>\n' for i in range(n))
    return f"{HEAD}<clusternodes>\n{doubled}</clusternodes></cluster>\n"


def check_time(text: str) -> float:
    start = time.perf_counter()
    try:
        parse_config(text, "big.conf")
    except ConfigError as exc:
        assert exc.problems
    return time.perf_counter() - start


@pytest.mark.parametrize(
    "generate",
    [nodes_without_fencing, domain_members_that_are_not_nodes, services_in_missing_domains, duplicate_node_names],
)
def test_checking_time_grows_linearly_with_siblings(generate: Callable[[int], str]) -> None:
    small, large = generate(5000), generate(20000)
    assert len(large.encode()) < 1024 * 1024
    check_time(small)  # warm up caches and imports
    # The fastest of a few runs of each size: another process taking the CPU only ever adds time to a run.
    ratio = min(check_time(large) for _ in range(2)) / min(check_time(small) for _ in range(3))
    assert ratio < 10, f"{generate.__name__}: 4x the siblings took {ratio:.1f}x the time (quadratic: 16x)"
