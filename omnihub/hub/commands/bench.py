"""`omnihub bench`: measure the hub against a bare baseline and print the ratio."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from omnihub.hub.bench import BenchOptions, Report, UnknownBenchmark, names, select
from omnihub.hub.bench.load import LoadFailed
from omnihub.hub.bench.procs import ServerFailed
from omnihub.hub.bench.report import render, write_json


@click.command("bench")
@click.option("--duration", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="Seconds of each measured run.")
@click.option("--warmup", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="Seconds of load before each measured run, not counted.")
@click.option("--reps", type=click.IntRange(min=1), default=3, show_default=True,
              help="Interleaved repetitions; the median and range are reported.")
@click.option("--connections", type=click.IntRange(min=1), default=64, show_default=True,
              help="Concurrent keep-alive connections of the load generator.")
@click.option("--quick", is_flag=True, help="Smoke run: 3 s x 1 rep, 1 s warm-up.")
@click.option("--only", "only", multiple=True, metavar="NAME",
              help=f"Run only this benchmark (repeatable): {', '.join(names())}.")
@click.option("--generator", type=click.Choice(["auto", "wrk", "python"]), default="auto",
              show_default=True, help="Load generator; auto prefers wrk.")
@click.option("--no-pin", is_flag=True, help="Do not pin server and load to CPUs 0 and 1.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every figure to this JSON file.")
def bench(
    duration: float, warmup: float, reps: int, connections: int, quick: bool,
    only: tuple[str, ...], generator: str, no_pin: bool, json_path: Path | None,
) -> None:
    """Benchmark omnihub against a baseline measured in the same run.

    Ends with `ingest ratio hub/bare: <ratio>`. Exits 1 when a correctness check fails
    (non-2xx answers, or fewer stored messages than acknowledged ones).
    """
    if quick:
        duration, warmup, reps = 3.0, 1.0, 1
    options = BenchOptions(
        duration=duration, warmup=warmup, reps=reps, connections=connections,
        generator=generator,  # type: ignore[arg-type]
        pin=not no_pin,
        quick=quick,
    )
    try:
        benchmarks = select(only)
    except UnknownBenchmark as exc:
        raise click.BadParameter(str(exc), param_hint="--only") from None
    reports: list[Report] = []
    for benchmark in benchmarks:
        options.progress(f"{benchmark.name}: {benchmark.summary}")
        try:
            reports.append(benchmark.run(options))
        except (ServerFailed, LoadFailed) as exc:
            raise click.ClickException(f"{benchmark.name}: {exc}") from None
    if json_path is not None:
        settings = {k: v for k, v in dataclasses.asdict(options).items() if k != "progress"}
        write_json(json_path, reports, settings)
    for report in reports:
        click.echo("\n".join(render(report)))
    if not all(report.ok for report in reports):
        raise SystemExit(1)
