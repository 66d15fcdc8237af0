from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from omnihub.hub.bench import UnknownBenchmark, names, select
from omnihub.hub.bench.base import Report
from omnihub.hub.bench.load import LoadResult
from omnihub.hub.bench.report import format_table, render
from omnihub.hub.bench.summary import Run, summarize
from omnihub.hub.commands.bench import bench


def _run(server: str, rep: int, rps: float, p99_ms: float, cpu_us: float) -> Run:
    load = LoadResult(
        generator="wrk", requests=int(rps * 10), duration_s=10.0, p50_ms=p99_ms / 2,
        p90_ms=p99_ms * 0.8, p99_ms=p99_ms, max_ms=p99_ms * 2, non_2xx=0, socket_errors=0,
        sent=int(rps * 10), wraps=0,
    )
    return Run(server, rep, load, cpu_us, {"cpu0": 0.99, "cpu1": 0.5})


RUNS = [
    _run("bare", 0, 40_000, 3.0, 25.0), _run("hub", 0, 10_000, 12.0, 90.0),
    _run("hub", 1, 9_000, 14.0, 100.0), _run("bare", 1, 36_000, 3.2, 27.0),
    _run("bare", 2, 38_000, 2.9, 26.0), _run("hub", 2, 11_400, 11.0, 80.0),
]


def test_ratio_is_taken_rep_by_rep_then_the_median() -> None:
    summary = summarize(RUNS, stored=315_000, ok_answers=314_000)
    assert summary.ratio.median == pytest.approx(0.25)  # 0.25, 0.25, 0.3
    assert summary.ratio.high == pytest.approx(0.3)
    assert summary.hub.rps.median == 10_000
    assert summary.bare.p99_ms.median == 3.0
    assert summary.cpu_ratio.median == pytest.approx(90 / 25)
    assert summary.durable and summary.target_met


def test_lost_acks_and_slow_tails_are_reported() -> None:
    summary = summarize(RUNS, stored=10, ok_answers=11)
    assert not summary.durable
    assert any("FAILED" in line for line in summary.table())
    slow = summarize([RUNS[0], _run("hub", 0, 10_000, 80.0, 90.0)], stored=1, ok_answers=1)
    assert not slow.target_met
    assert any("NOT met" in line for line in slow.table())


def test_summary_needs_a_complete_rep() -> None:
    with pytest.raises(ValueError):
        summarize([RUNS[0]], stored=0, ok_answers=0)


def test_report_ends_with_its_final_line() -> None:
    report = Report("ingest", ["a table"], {}, "ingest ratio hub/bare: 0.25",
                    ok=False, problems=["lost"])
    assert render(report) == ["a table", "PROBLEM: lost", "ingest ratio hub/bare: 0.25"]


def test_table_aligns_columns() -> None:
    lines = format_table(["server", "msgs/s"], [["bare", "40,000"], ["hub", "9,000"]])
    assert lines == ["server  msgs/s", "bare    40,000", "hub      9,000"]


def test_benchmarks_are_selected_by_name() -> None:
    assert "ingest" in names()
    assert [b.name for b in select(["ingest"])] == ["ingest"]
    with pytest.raises(UnknownBenchmark, match="choose from"):
        select(["nope"])


def test_cli_rejects_an_unknown_benchmark() -> None:
    result = CliRunner().invoke(bench, ["--only", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark nope" in result.output


def test_disagreeing_reps_are_flagged_as_noise() -> None:
    quiet = summarize(RUNS, stored=1, ok_answers=1)
    assert quiet.noise_warning() == []
    noisy = summarize(
        [*RUNS[:4], _run("bare", 2, 10_000, 2.9, 26.0), RUNS[5]], stored=1, ok_answers=1
    )
    assert "varies by" in noisy.noise_warning()[0]


def test_ingest_report_voids_figures_on_errors(tmp_path: Path) -> None:
    from omnihub.hub.bench.base import BenchOptions
    from omnihub.hub.bench.ingest import IngestBench

    bench_run = IngestBench(BenchOptions(generator="python", pin=False), tmp_path)
    good = bench_run.report(summarize(RUNS, stored=5, ok_answers=5), "uvloop")
    assert good.ok and good.problems == []
    assert good.final_line == "ingest ratio hub/bare: 0.25"
    assert good.lines[0].endswith("python, uvloop, not pinned")
    assert good.figures["ratio"]["median"] == pytest.approx(0.25)
    assert len(good.figures["runs"]) == 0  # runs are recorded by measure(), not report()

    bench_run.errors.append("hub: 3 non-2xx answers and 0 socket errors in 10 requests")
    lost = bench_run.report(summarize(RUNS, stored=4, ok_answers=5), "uvloop")
    assert not lost.ok
    assert lost.problems[0].startswith("hub: 3 non-2xx")
    assert "only 4 messages stored for 5 2xx answers" in lost.problems[1]


def test_ingest_report_states_warm_headline_and_cold_figures(tmp_path: Path) -> None:
    from omnihub.hub.bench.base import BenchOptions
    from omnihub.hub.bench.ingest import IngestBench

    bench_run = IngestBench(BenchOptions(generator="python", pin=False), tmp_path)
    cold = summarize([RUNS[0], _run("hub", 0, 4_000, 20.0, 40.0)], stored=5, ok_answers=5)
    report = bench_run.report(summarize(RUNS, stored=5, ok_answers=5), "uvloop", cold)
    assert report.final_line == "ingest ratio hub/bare: 0.25"
    assert any(line.startswith("warm store (headline)") for line in report.lines)
    assert "cold store (every message a new customer) ratio hub/bare: 0.10" in report.lines
    assert "warm store (returning customers) ratio hub/bare: 0.25" in report.lines
    assert report.figures["cold"]["ratio"]["median"] == pytest.approx(0.1)
