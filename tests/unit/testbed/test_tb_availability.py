"""What a client saw, judged from made-up records: outages, runs of answers, writes, samples (no root needed)."""

from __future__ import annotations

import json

import pytest

from quorate.testbed.availability import (
    Attempt,
    Operation,
    Sample,
    check_runs,
    check_samples,
    check_writes,
    outages,
    parse_records,
    render,
    runs,
    wrong_answers,
)

B, C, M = "balthasar", "casper", "melchior"


def http(t: float, ok: bool, node: str | None = None, answer: str | None = None) -> Attempt:
    return Attempt("http", int(t * 100), t, t + 0.01, ok, node=node, answer=answer or ("page" if ok else None))


def sql(n: int, t: float, ok: bool, node: str | None = None, sent: bool = True) -> Attempt:
    return Attempt("sql", n, t, t + 0.01, ok, node=node, sent=sent)


def test_parse_records_reads_the_workloads_lines_and_skips_a_torn_last_line() -> None:
    lines = [
        json.dumps({"k": "start", "t0": 1.0, "period": 0.05}),
        json.dumps({"k": "http", "i": 1, "t0": 1.0, "t1": 1.1, "ok": True, "answer": "page", "node": B}),
        json.dumps({"k": "sql", "n": 1, "t0": 1.0, "t1": 1.2, "ok": False, "sent": True, "err": "OperationalError"}),
        '{"k":"http","i":2,"t0":1.05',
    ]
    attempts = parse_records(lines)
    assert attempts == [
        Attempt("http", 1, 1.0, 1.1, True, node=B, answer="page"),
        Attempt("sql", 1, 1.0, 1.2, False, err="OperationalError", sent=True),
    ]


def test_outage_runs_from_the_first_failed_start_to_the_first_successful_start_after_the_last_failure() -> None:
    attempts = [http(10.0, True, B), http(10.05, False), http(10.10, False), http(10.15, True, M)]
    attempts += [http(20.0, True, M), http(20.05, True, M)]
    ops = [Operation("relocate", 9.0), Operation("nothing", 19.0)]
    first, second = outages(attempts, "http", "web", ops, until=30.0)
    assert first.seconds == pytest.approx(0.10) and first.failures == 2
    assert first.failed_from == 10.05 and first.back_at == 10.15
    assert second.seconds == 0.0 and second.failures == 0
    assert first.as_dict()["unavailable_s"] == 0.1


def test_a_success_between_failures_does_not_end_the_outage() -> None:
    # A request that started early and answered late (its first SYN lost while the address moved), then more
    # refusals: new requests were still failing, so the service was not back yet.
    attempts = [http(10.0, True, B), http(10.05, False), Attempt("http", 7, 10.10, 11.1, True, node=M)]
    attempts += [http(10.15, False), http(10.20, False), http(10.25, True, M), http(10.30, True, M)]
    [outage] = outages(attempts, "http", "web", [Operation("kill", 9.0)], until=30.0)
    assert (outage.failed_from, outage.back_at, outage.failures) == (10.05, 10.25, 3)
    assert outage.seconds == pytest.approx(0.20)


def test_a_service_that_never_came_back_within_the_window_has_no_duration() -> None:
    attempts = [http(10.0, False), http(10.05, False), http(25.0, True, M)]
    ops = [Operation("kill", 9.0), Operation("next", 20.0)]
    [during, after] = outages(attempts, "http", "web", ops, until=30.0)
    assert during.seconds is None and during.failures == 2
    assert after.seconds == 0.0
    assert "never back" in render([during, after])


def test_a_failure_in_flight_when_the_next_operation_began_is_that_operations() -> None:
    # As in a web_db run: an INSERT began 14 ms before the step that powered its server off, and failed with
    # "Lost connection" once it had. It is the power cut's failure, not an outage of the step before that
    # never ended (the client had been served there all along).
    attempts = [sql(1, 10.0, True, C), sql(2, 10.05, True, C)]
    attempts += [Attempt("sql", 3, 10.10, 10.114, False, sent=True), sql(4, 10.15, False), sql(5, 21.0, True, M)]
    ops = [Operation("boot balthasar", 9.0), Operation("power casper off", 10.105)]
    before, cut = outages(attempts, "sql", "db", ops, until=30.0)
    assert before.seconds == 0.0 and before.failures == 0
    assert (cut.failures, cut.failed_from, cut.back_at) == (2, 10.105, 21.0)


def test_a_late_failure_of_an_outage_already_over_stays_with_its_operation() -> None:
    # A connect that timed out 3 s after the address moved: attempts started after it were answered before
    # the next operation began, so its failure is the relocation's, and the next operation saw none.
    attempts = [http(10.0, True, B), Attempt("http", 2, 10.05, 13.05, False), http(10.10, False)]
    attempts += [http(10.15, True, M), http(10.20, True, M), http(20.0, True, M)]
    ops = [Operation("relocate", 9.0), Operation("untouched", 12.0)]
    move, untouched = outages(attempts, "http", "web", ops, until=30.0)
    assert (move.failures, move.failed_from, move.back_at) == (2, 10.05, 10.15)
    assert untouched.failures == 0 and untouched.seconds == 0.0


def test_runs_group_answers_by_node_in_time_order() -> None:
    found = runs([(3.0, M), (1.0, B), (2.0, B), (4.0, M), (5.0, B)])
    assert [(r.node, r.first, r.last, r.count) for r in found] == [(B, 1.0, 2.0, 2), (M, 3.0, 4.0, 2), (B, 5.0, 5.0, 1)]
    assert check_runs(found, [B, M, B], "web") == []


def test_two_nodes_answering_at_once_show_as_more_runs_than_owners() -> None:
    interleaved = runs([(1.0, B), (1.1, M), (1.2, B), (1.3, M)])
    [problem] = check_runs(interleaved, [B, M], "web, access logs")
    assert "web, access logs" in problem and "expected ['balthasar', 'melchior']" in problem


def test_any_answer_but_the_page_is_reported() -> None:
    attempts = [http(1.0, True, B), http(1.1, False), http(1.2, False, M, answer="status 403")]
    [problem] = wrong_answers(attempts)
    assert "melchior" in problem and "status 403" in problem


def test_writes_every_acknowledged_number_must_be_in_the_table() -> None:
    attempts = [sql(1, 1.0, True, B), sql(2, 1.1, True, B), sql(3, 1.2, False), sql(4, 1.3, True, M)]
    good = check_writes(attempts, {1: B, 2: B, 3: B, 4: M})
    assert good.problems == []
    assert (good.acknowledged, good.in_doubt, good.in_doubt_present, good.rows) == (3, 1, 1, 4)
    lost = check_writes(attempts, {1: B, 4: M})
    assert lost.problems == ["1 acknowledged writes are missing from the table: [2]"]


def test_writes_rows_nobody_acknowledged_or_sent_and_rows_from_another_server_are_problems() -> None:
    attempts = [sql(1, 1.0, True, B), sql(2, 1.1, False, sent=False)]
    phantom = check_writes(attempts, {1: B, 2: M})
    assert phantom.problems == ["1 rows were never acknowledged nor sent: [2]"]
    moved = check_writes(attempts, {1: M})
    assert len(moved.problems) == 1 and "acked by balthasar, row says melchior" in moved.problems[0]


def test_samples_allow_one_holder_and_one_known_mac_per_address() -> None:
    macs = {B: "02:00:00:00:00:01", M: "02:00:00:00:00:03"}
    fine = Sample(1.0, {"192.168.0.150": [B]}, {"192.168.0.150": ["02:00:00:00:00:01"]})
    empty = Sample(1.5, {"192.168.0.150": []}, {"192.168.0.150": []})
    assert check_samples([fine, empty], macs) == []
    two = Sample(2.0, {"192.168.0.150": [B, M]}, {"192.168.0.150": ["02:00:00:00:00:01", "02:00:00:00:00:03"]})
    stranger = Sample(3.0, {"192.168.0.150": [M]}, {"192.168.0.150": ["02:00:00:00:00:99"]})
    problems = check_samples([two, stranger], macs)
    assert len(problems) == 3
    assert "held by balthasar, melchior at once" in problems[0]
    assert "2 MACs" in problems[1]
    assert "02:00:00:00:00:99" in problems[2]


def test_render_has_one_line_per_operation_and_a_column_per_service() -> None:
    attempts = [http(10.0, False), http(10.5, True, M), sql(1, 10.0, True, B)]
    ops = [Operation("clusvcadm -r web", 9.0)]
    table = render(outages(attempts, "http", "web", ops, 20.0) + outages(attempts, "sql", "db", ops, 20.0))
    header, line = table.splitlines()
    assert "web unavailable" in header and "db unavailable" in header
    assert line.startswith("clusvcadm -r web") and "0.500 s (1 failed)" in line and "0.000 s (0 failed)" in line
