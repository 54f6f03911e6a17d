"""Fixtures shared by the core's tests: an earlier release's own code, for the compatibility tests."""

from __future__ import annotations

from types import ModuleType

import pytest
from release_archives import release_module


@pytest.fixture(scope="session")
def messages_0_2_0(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """Release 0.2.0's ``quorate.core.messages``, its codec and its message types: the release whose heartbeat
    has neither clock stamps nor features, which a newer heartbeat must still mean the same to."""
    return release_module("v0.2.0", "quorate.core.messages", tmp_path_factory.mktemp("release-0.2.0"))
