"""Shared settings of the fuzz targets: few examples, a fixed seed, no example database.

Why these settings: the targets run with every test run, so they must be quick (the whole directory well under
a minute on a busy two-core machine) and give the same examples on every machine (``derandomize``), so that a
failure in CI is a failure on a laptop too. No example database is written into the working tree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,  # the bound below is ours, measured per call, generous for a loaded machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CALL_BOUND = 3.0  # seconds one decoding or load may take, whatever its input

T = TypeVar("T")


def bounded(call: Callable[[], T]) -> T:
    """Run `call`, failing if it takes longer than `CALL_BOUND`; its exception, if any, passes through."""
    start = time.perf_counter()
    try:
        return call()
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < CALL_BOUND, f"took {elapsed:.2f} s"
