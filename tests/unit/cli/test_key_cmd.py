"""`quorate key`: durations as administrators write them, and the status as a person reads it."""

from __future__ import annotations

import click
import pytest

from quorate.cli.key_cmd import parse_duration, render


def test_durations() -> None:
    assert [parse_duration(t) for t in ("0", "3600", "90m", "24h", "2d")] == [0, 3600, 5400, 86400, 172800]
    with pytest.raises(click.BadParameter, match="'a day' is not a duration"):
        parse_duration("a day")


def test_the_status_shows_each_node_step_and_the_grace_left() -> None:
    text = render(
        {
            "key_file": "/etc/cluster/quorate.key",
            "source": "the default",
            "view_features": ["key-rotation"],
            "phase": "switching",
            "rotation": 4,
            "started_by": "casper.localdomain",
            "driver": "casper.localdomain",
            "nodes": {"balthasar.localdomain": "sending", "casper.localdomain": "sending", "melchior": "staged"},
            "last": "rotation 3 completed",
            "retired_key_for": 5400,
        }
    )
    assert "Features every member supports: key-rotation" in text
    assert "Rotation: 4 (started by casper.localdomain, driven by casper.localdomain)" in text
    assert "  melchior               staged" in text
    assert "Retired key: answers key fetches for 1 h 30 min more" in text
