"""state.json: any bytes, any JSON shape: a LocalState in range, or ValueError saying why; never another error."""

from __future__ import annotations

import json

from fuzzing import FUZZ, bounded
from hypothesis import given
from hypothesis import strategies as st

from quorate.node.store import ID_MAX, U64_MAX, LocalState, parse_state

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(["boot_epoch", "highest_seq", "rejoin_expected", "rejoin_awaiting", "other"])
STATES = st.dictionaries(FIELDS, st.one_of(st.integers(min_value=-(2**70), max_value=2**70), JSON), max_size=5)


def check(data: bytes) -> None:
    try:
        state = bounded(lambda: parse_state(data))
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(state, LocalState)
    assert 0 <= state.boot_epoch < U64_MAX and 0 <= state.highest_seq < U64_MAX
    assert 0 <= state.rejoin_expected <= ID_MAX and all(0 <= n <= ID_MAX for n in state.rejoin_awaiting)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(STATES)
def test_state_shaped_json(raw: dict[str, object]) -> None:
    check(json.dumps(raw).encode())


@FUZZ
@given(st.integers(min_value=1, max_value=50_000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    check((opener * depth + "1" + closer * depth).encode())
