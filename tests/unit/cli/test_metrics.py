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


def test_decision_events_journal_and_clock_offsets_are_exported() -> None:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from quorate.cli.metrics_cmd import _decision_families

    status = {
        "event_counts": {"fence/confirmed": 1, "service/placed": 3},
        "journal": {"path": "/var/lib/quorate/journal.sqlite", "written": 40, "dropped": 2, "errors": 1},
        "clock_offsets": [{"nodeid": 2, "name": "casper.localdomain", "offset": 5.002, "delay": 0.0004,
                           "samples": 8}],
    }  # fmt: skip

    class One:
        def collect(self):  # type: ignore[no-untyped-def]
            return iter(_decision_families(status))

    registry = CollectorRegistry()
    registry.register(One())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text)
             for s in f.samples}  # fmt: skip
    assert found[("quorate_decision_events_total", (("kind", "service"), ("outcome", "placed")))] == 3
    assert found[("quorate_decision_events_total", (("kind", "fence"), ("outcome", "confirmed")))] == 1
    assert found[("quorate_journal_events_written_total", ())] == 40
    assert found[("quorate_journal_events_dropped_total", ())] == 2
    assert found[("quorate_journal_errors_total", ())] == 1
    assert found[("quorate_peer_clock_offset_seconds", (("peer", "casper.localdomain"),))] == 5.002
    assert found[("quorate_peer_clock_round_trip_seconds", (("peer", "casper.localdomain"),))] == 0.0004
