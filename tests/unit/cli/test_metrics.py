"""`quorate metrics` without a daemon, and its option checks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from quorate.cli.metrics_cmd import metrics


def test_no_daemon_means_up_0_and_nothing_else(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("QUORATE_SOCKET", str(tmp_path / "nothing.sock"))
    done = CliRunner().invoke(metrics, [])
    assert done.exit_code == 0, done.output
    found = [(s.name, s.value) for f in text_string_to_metric_families(done.output) for s in f.samples]
    assert found == [("quorate_up", 0.0)]


def test_a_bad_listen_address_is_refused_with_an_example() -> None:
    done = CliRunner().invoke(metrics, ["--listen", "localhost:http"])
    assert done.exit_code == 2 and "give [ADDRESS:]PORT, for example 127.0.0.1:9664" in done.output
