"""Fixtures of the config tests; the data itself lives in config_samples so test modules can import it."""

from __future__ import annotations

import pytest
from config_samples import ARTICLE_1, ARTICLE_2


@pytest.fixture
def article_1() -> bytes:
    return ARTICLE_1.read_bytes()


@pytest.fixture
def article_2() -> bytes:
    return ARTICLE_2.read_bytes()
