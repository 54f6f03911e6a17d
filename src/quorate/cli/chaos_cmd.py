"""`quorate chaos`: run seeded fault scenarios against a fresh testbed cluster and report what held.

The command builds its own testbed (root needed), runs each chosen scenario for the given rounds, prints the
command that replays the run, a line per step, and a Markdown table at the end (also written with
``--report``). Exit status 0 when every round recovered with every invariant kept, 1 otherwise, 2 when the
testbed cannot run here.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from quorate.testbed.chaos_report import RoundResult


@click.command("chaos")
@click.option("--scenario", "scenarios", multiple=True, default=("all",), show_default=True,
              help="A scenario name (repeatable), or 'all'.")  # fmt: skip
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True, help="Rounds per scenario.")
@click.option("--seed", type=int, default=None, help="Seed of every random choice (default: a new one, printed).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the Markdown report to this file.")  # fmt: skip
@click.option("--token", "token_ms", type=click.IntRange(min=500), default=1000, show_default=True,
              help="The cluster's token timeout in milliseconds.")  # fmt: skip
@click.option("--bound", type=float, default=90.0, show_default=True,
              help="Seconds a round may take to recover after its faults end.")  # fmt: skip
@click.option("--logs", "logs_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the daemons' logs and the shared file of every round that broke a check here.")  # fmt: skip
@click.option("--prefix", default="qc", show_default=True, help="The testbed's name prefix.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
def chaos(
    scenarios: tuple[str, ...], rounds: int, seed: int | None, report_path: Path | None, token_ms: int,
    bound: float, logs_dir: Path | None, prefix: str, list_only: bool,
) -> None:  # fmt: skip
    """Hurt a testbed cluster on purpose (power, daemons, network, scripts) and check it recovers safely."""
    from quorate.testbed import chaos_plan, chaos_report
    from quorate.testbed.testbed import missing_prerequisites

    if list_only:
        for name, (text, _builder) in chaos_plan.SCENARIOS.items():
            click.echo(f"{name:<18} {text}")
        return
    names = list(chaos_plan.SCENARIOS) if "all" in scenarios else list(scenarios)
    unknown = [n for n in names if n not in chaos_plan.SCENARIOS]
    if unknown:
        raise click.BadParameter(
            f"unknown scenario {', '.join(unknown)}; known: {', '.join(chaos_plan.SCENARIOS)}", param_hint="--scenario"
        )
    problems = missing_prerequisites()
    if problems:
        click.echo(f"quorate chaos: {'; '.join(problems)}", err=True)
        raise SystemExit(2)
    seed = random.SystemRandom().randrange(1, 10**6) if seed is None else seed
    chosen = ["all"] if "all" in scenarios else names
    replay = " ".join(["quorate chaos", *[f"--scenario {n}" for n in chosen], f"--rounds {rounds}", f"--seed {seed}",
                       f"--token {token_ms}"])  # fmt: skip
    click.echo(f"replay with: {replay}")
    results = _run(names, rounds, seed, token_ms, bound, prefix, logs_dir)
    text = f"# quorate chaos\n\n`{replay}`\n\n{chaos_report.table(results)}"
    failures = chaos_report.details(results)
    if failures:
        text += f"\nViolations:\n\n{failures}"
    click.echo(text)
    if report_path is not None:
        report_path.write_text(text)
    raise SystemExit(0 if all(r.ok for r in results) else 1)


def _run(
    names: list[str], rounds: int, seed: int, token_ms: int, bound: float, prefix: str, logs_dir: Path | None
) -> list[RoundResult]:
    from quorate.testbed.chaos_plan import QDISK_SCENARIOS

    results: list[RoundResult] = []
    plain = [n for n in names if n not in QDISK_SCENARIOS]
    with_disk = [n for n in names if n in QDISK_SCENARIOS]
    for group, qdisk in ((plain, False), (with_disk, True)):
        if group:
            results += _run_on_bed(group, rounds, seed, token_ms, bound, prefix, logs_dir, qdisk=qdisk)
    return results


def _run_on_bed(
    names: list[str], rounds: int, seed: int, token_ms: int, bound: float, prefix: str, logs_dir: Path | None,
    *, qdisk: bool,
) -> list[RoundResult]:  # fmt: skip
    """The rounds of ``names`` on one fresh testbed (with a quorum disk when ``qdisk``)."""
    from quorate.testbed.chaos import Chaos
    from quorate.testbed.chaos_bed import article_cluster
    from quorate.testbed.chaos_plan import plan

    period = 1.0
    results: list[RoundResult] = []
    tmp = tempfile.TemporaryDirectory(prefix="quorate-chaos-")
    bed = article_cluster(Path(tmp.name), prefix=prefix, token_ms=token_ms, period=period, qdisk=qdisk)
    with tmp, bed as (tb, conf):
        runner = Chaos(tb, conf, period=period, bound=bound, log=lambda line: click.echo(line), logs_dir=logs_dir)
        disk = " (with a quorum disk)" if qdisk else ""
        click.echo(f"waiting for the cluster{disk} to form and service:test to start on its first node")
        began = time.monotonic()
        if runner.wait_recovered() is None:
            raise click.ClickException(f"the cluster did not form within {bound:g} s")
        click.echo(f"cluster ready in {time.monotonic() - began:.1f} s")
        for name in names:
            for number in range(1, rounds + 1):
                results.append(runner.run(plan(name, seed, number, len(tb.nodes))))
    return results
