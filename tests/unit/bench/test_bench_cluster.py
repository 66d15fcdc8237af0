"""The 2-process ingest benchmark's arithmetic and checks, and the PostgreSQL hub config."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.hub.bench import targets
from omnihub.hub.bench.cluster_summary import (
    BARE,
    BARE2,
    HUB,
    HUB2,
    ClusterCheck,
    combine,
    summarize_cluster,
)
from omnihub.hub.bench.ingest import drop_answered
from omnihub.hub.bench.load import LoadResult
from omnihub.hub.bench.payloads import read_requests, write_requests
from omnihub.hub.bench.registry import names
from omnihub.hub.bench.summary import Run, summarize
from omnihub.hub.settings import load_hub_settings


def load(requests: int, p50: float = 1.0, p99: float = 5.0, *, duration: float = 10.0,
         non_2xx: int = 0, wraps: int = 0) -> LoadResult:
    return LoadResult(generator="wrk", requests=requests, duration_s=duration, p50_ms=p50,
                      p90_ms=p50 * 2, p99_ms=p99, max_ms=p99 * 2, non_2xx=non_2xx,
                      socket_errors=0, sent=requests + 32, wraps=wraps)


def run(setup: str, rep: int, rps: float) -> Run:
    return Run(setup, rep, load(int(rps * 10)), 100.0, {"cpu0": 1.0})


def test_side_by_side_loads_add_up_and_keep_the_worst_percentiles() -> None:
    both = combine([load(1000, 2.0, 9.0), load(3000, 1.0, 20.0, duration=10.5, non_2xx=2)])
    assert both.requests == 4000
    assert both.duration_s == 10.5  # the longest: rps never overstated
    assert (both.p50_ms, both.p99_ms) == (2.0, 20.0)
    assert both.non_2xx == 2
    assert both.sent == 4064
    with pytest.raises(ValueError):
        combine([])


def test_cluster_ratios_are_taken_rep_by_rep() -> None:
    runs = [
        run(BARE, 0, 10_000), run(BARE2, 0, 14_000), run(HUB, 0, 1_000), run(HUB2, 0, 1_100),
        run(BARE, 1, 8_000), run(BARE2, 1, 12_000), run(HUB, 1, 1_000), run(HUB2, 1, 1_200),
        run(HUB2, 2, 5_000),  # an incomplete rep is left out
    ]
    summary = summarize_cluster(runs)
    assert summary.ratio(HUB2, HUB).low == pytest.approx(1.1)
    assert summary.ratio(HUB2, HUB).high == pytest.approx(1.2)
    assert summary.ratio(HUB2, BARE).median == pytest.approx((0.11 + 0.15) / 2)
    assert summary.ratio(BARE2, BARE).median == pytest.approx((1.4 + 1.5) / 2)
    assert summary.figures[HUB2].rps.high == 1_200
    assert any(line.startswith("2-process hub / 1-process hub") for line in summary.table())
    with pytest.raises(ValueError):
        summarize_cluster([run(HUB, 0, 1)])


def test_cluster_check_passes_only_when_every_answer_is_stored_once() -> None:
    good = ClusterCheck(ok_answers=900, sent=1000, stored=950, distinct=950, events=950,
                        pending=0)
    assert good.problems() == [] and good.line().endswith("ok")
    cases = {
        "stored for": dict(stored=800, distinct=800, events=800),
        "but only": dict(stored=1100, distinct=1100, events=1100),
        "stored twice": dict(distinct=940),
        "events for": dict(events=949),
        "never reached": dict(pending=3),
        "replayed": dict(wraps=1),
    }
    for words, change in cases.items():
        bad = ClusterCheck(**{**_fields(good), **change})
        assert any(words in problem for problem in bad.problems()), words
        assert bad.line().endswith("FAILED")


def _fields(check: ClusterCheck) -> dict[str, int]:
    values = check.as_dict()
    values.pop("ok")
    return values


def test_ingest_summary_takes_the_pg_target() -> None:
    runs = [run("bare", 0, 10_000), Run("hub", 0, load(22_000, p99=14.0), 1.0, {})]
    assert summarize(runs, stored=1, ok_answers=1, target_ratio=0.20,
                     target_p99_ms=15.0).target_met
    strict = summarize(runs, stored=1, ok_answers=1, target_ratio=0.25, target_p99_ms=15.0)
    assert not strict.target_met
    assert any("0.25" in line and "NOT met" in line for line in strict.table())


def test_cluster_hub_configs_share_store_bus_and_key(tmp_path: Path) -> None:
    key = targets.new_pii_key()
    url = "postgresql://postgres@127.0.0.1:5432/omnihub_bench_x"
    settings = []
    for name in ("hub-a", "hub-b"):
        config, _ = targets.write_hub_config(tmp_path, 8081, store_url=url,
                                             bus_url="redis://127.0.0.1:6379/0",
                                             stream_prefix="omnihub-bench-ab12", name=name)
        config.write_text(config.read_text() + f'security: {{pii_key: "{key}"}}\n')
        settings.append(load_hub_settings(config))  # the hub's own loader accepts it
    a, b = settings
    assert a.store.url == b.store.url == url
    assert a.bus.stream_prefix == "omnihub-bench-ab12" and a.bus.url.startswith("redis://")
    assert a.security.pii_key == b.security.pii_key == key
    assert a.data_dir != b.data_dir


def test_default_hub_config_is_still_a_fresh_sqlite_store(tmp_path: Path) -> None:
    config, db_path = targets.write_hub_config(tmp_path, 8082)
    settings = load_hub_settings(config)
    assert settings.store.url == f"sqlite:///{db_path}"
    assert settings.bus.url == "memory://"


def test_seeding_goes_on_where_the_last_round_stopped(tmp_path: Path) -> None:
    path = write_requests(tmp_path / "seed.requests", count=10, secret="s", channel_id="c",
                          tag="seed-t", customers=10, customer_order="each").path
    original = list(read_requests(path))
    drop_answered(path, 0)  # wrk swallows the first request: it goes in twice
    assert list(read_requests(path)) == [original[0], *original]
    drop_answered(path, 5)  # the spare and the next four were answered
    assert list(read_requests(path)) == [original[4], *original[4:]]
    drop_answered(path, -3)  # a margin larger than the answers: nothing dropped
    assert list(read_requests(path)) == [original[4], original[4], *original[4:]]
    drop_answered(path, 100)  # never empty: the generator needs a request to send
    assert list(read_requests(path)) == original[-1:] * 2


def test_new_benchmarks_are_registered() -> None:
    assert {"ingest_pg", "ingest_cluster", "history"} <= set(names())


def test_an_unreachable_database_or_bus_is_one_clear_error() -> None:
    from omnihub.hub.bench import pg
    from omnihub.hub.bench.procs import ServerFailed

    with pytest.raises(ServerFailed, match="OMNIHUB_BENCH_PG_URL"):
        with pg.fresh_database("postgresql://postgres@127.0.0.1:1/postgres"):
            pass
    with pytest.raises(ServerFailed, match="OMNIHUB_BENCH_REDIS_URL"):
        pg.redis_ping("redis://127.0.0.1:1/0")


def test_database_urls_keep_the_server_and_change_the_database() -> None:
    from omnihub.hub.bench import pg

    url = pg.database_url("omnihub_bench_ab", "postgresql://postgres:pw@db.local:5433/postgres")
    assert url == "postgresql://postgres:pw@db.local:5433/omnihub_bench_ab"
