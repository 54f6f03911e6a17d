"""Derived values: cluster id, multicast address, totem consensus, qdisk cycles, value readers."""

from __future__ import annotations

import pytest

from quorate.config import cluster_id_from_name, derive, derived_multicast


@pytest.mark.parametrize(
    ("name", "expected"),
    [("magi", 1571), ("", 0), ("a", 97), ("ab", 97 * 2 + 98)],
)
def test_cluster_id(name: str, expected: int) -> None:
    assert cluster_id_from_name(name) == expected


def test_cluster_id_keeps_16_bits_and_signed_chars() -> None:
    long_name = "z" * 15
    value = 0
    for ch in long_name:
        value = (value << 1) + ord(ch)
    assert cluster_id_from_name(long_name) == value & 0xFFFF
    # "é" is two bytes above 127: C's signed char adds them as negative numbers.
    assert cluster_id_from_name("é") == ((0xC3 - 256) * 2 + (0xA9 - 256)) & 0xFFFF


@pytest.mark.parametrize(
    ("cluster_id", "address"),
    [(1571, "239.192.6.41"), (0, "239.192.0.0"), (255, "239.192.0.0"), (256, "239.192.1.1"), (65535, "239.192.255.0")],
)
def test_multicast_uses_mod_255(cluster_id: int, address: str) -> None:
    assert derived_multicast(cluster_id) == address


def test_multicast_ipv6() -> None:
    assert derived_multicast(1571, ipv6=True) == "ff15::623"


@pytest.mark.parametrize(
    ("token", "nodes", "consensus"),
    [(10000, 2, 2000), (10000, 3, 12000), (500, 1, 200), (20000, 2, 2000), (5000, 2, 1000)],
)
def test_consensus(token: int, nodes: int, consensus: int) -> None:
    assert derive.default_consensus_ms(token, nodes) == consensus


def test_qdisk_derivations() -> None:
    assert derive.qdisk_tko_default(10000, 1) == 4
    assert derive.qdisk_tko_default(10000, 9) == 3  # floor
    assert derive.qdisk_tko_up(20, None) == 6
    assert derive.qdisk_tko_up(3, None) == 2
    assert derive.qdisk_tko_up(20, 1) == 2
    assert derive.qdisk_master_wait(20, 6, None) == 10
    assert derive.qdisk_master_wait(20, 6, 4) == 7
    assert derive.qdisk_votes_default([1, 1, 1]) == 2
    assert derive.qdisk_votes_default([1, 2]) is None
    assert derive.qdisk_min_score(0, [1, 1]) == 2
    assert derive.qdisk_min_score(0, [3]) == 2
    assert derive.qdisk_min_score(5, [3]) == 5
    assert derive.qdisk_min_score(0, []) == 0
    assert derive.qdisk_master_transition_ms(3, 20, 10, 2) == 96000


@pytest.mark.parametrize(
    ("text", "words", "value", "ok"),
    [
        ("1", False, True, True),
        ("0", False, False, True),
        (" 2 ", False, True, True),
        ("", False, False, False),
        ("true", False, False, False),
        ("yes", False, False, False),
        ("yes", True, True, True),
        ("No", True, False, True),
        ("3abc", False, True, False),
    ],
)
def test_read_bool(text: str, words: bool, value: bool, ok: bool) -> None:
    assert derive.read_bool(text, words=words) == (value, ok)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("0", 0), ("x", None), ("10 m", None), ("", None)],
)
def test_read_time(text: str, seconds: int | None) -> None:
    assert derive.read_time(text) == seconds
