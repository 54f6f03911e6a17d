"""Control requests: any line is a typed request or a BadRequest, never another error, nesting included."""

from __future__ import annotations

import json

from fuzzing import FUZZ, bounded
from hypothesis import given
from hypothesis import strategies as st

from quorate.node import protocol

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    ["raw", "votes", "node", "only", "addresses", "service", "target", "op", "data", "dry_run", "client", "x"]
)
REQUESTS = st.builds(
    lambda cmd, fields: {"cmd": cmd, **fields},
    st.sampled_from([*sorted(protocol.BY_TAG), "explode"]),
    st.dictionaries(FIELDS, JSON, max_size=4),
)


def check(line: bytes) -> None:
    try:
        request = bounded(lambda: protocol.decode_request(line))
    except protocol.BadRequest as exc:
        assert str(exc).startswith("bad request")
        return
    assert type(request) in protocol.BY_TAG.values()


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(line: bytes) -> None:
    check(line)


@FUZZ
@given(REQUESTS)
def test_request_shaped_objects(request: dict[str, object]) -> None:
    check(json.dumps(request).encode() + b"\n")


@FUZZ
@given(st.integers(min_value=1, max_value=200_000), st.sampled_from(["[", '{"a":']), st.booleans())
def test_deep_nesting_before_or_after_the_tag(depth: int, opener: str, tag_first: bool) -> None:
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    body = f'"cmd":"status","x":{nested}' if tag_first else f'"x":{nested},"cmd":"status"'
    check(("{" + body + "}\n").encode())
