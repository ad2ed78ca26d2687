"""`chinook-pipeline bench`: every figure is produced and the JSON report has the documented shape.

Nothing here asserts a speed: sizes are tiny, so the figures mean nothing; only their presence and
the report's shape are checked. The report's pure parts are checked without any broker.
"""

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from chinook_pipeline.bench.report import (
    FIGURES,
    PEER_FIGURES,
    RATIOS,
    bench_figures,
    build_report,
    format_table,
    percentile,
    targets,
)
from chinook_pipeline.bench.settings import parse_sizes
from chinook_pipeline.bench.state_upsert import FLUSH_CHANGES
from tests.conftest import Cli

STATE_SIZES = (500, 2000)
FIGURE_NAMES = [figure.name for figure in bench_figures(STATE_SIZES)]
SMALL = [
    "--customers",
    "2000",
    "--repeat",
    "1",
    "--partitions",
    "3",
    "--baseline-records",
    "20",
    "--freshness-rate",
    "50",
    "--freshness-seconds",
    "2",
    "--flush-age",
    "0.5",
    "--backlog",
    "3000",
    "--state-sizes",
    ",".join(map(str, STATE_SIZES)),
]


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.99) == pytest.approx(99.01)
    assert percentile([3.0], 0.99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_report_ratios_and_targets_from_medians() -> None:
    runs = {
        "raw_produce": [100.0, 300.0, 200.0],
        "producer": [150.0, 100.0, 130.0],
        "freshness_p99": [1.2],
    }
    report = build_report(runs, {"repeat": 3}, {}, datetime.now().astimezone(), flush_age=1.0)
    assert report["figures"]["raw_produce"]["median"] == 200.0
    assert report["figures"]["producer"]["ratios"] == {"raw_produce": pytest.approx(0.65)}
    checked = {(t["figure"], t["rule"]): t for t in report["targets"]}
    assert checked[("producer", ">= 0.6 x raw_produce")]["met"] is True
    assert checked[("producer", ">= 0.6 x raw_produce")]["threshold"] == pytest.approx(120.0)
    assert checked[("freshness_p99", "<= 1.5")]["met"] is True
    assert checked[("consumer", ">= 0.75 x raw_consume")]["met"] is None  # not measured
    assert report["figures"]["consumer"] == {
        "label": report["figures"]["consumer"]["label"],
        "unit": "records/s",
        "median": None,
        "runs": [],
        "ratios": {},
    }


def test_state_targets_are_checked_at_the_sizes_measured_and_absent_otherwise() -> None:
    """Issue 23's targets: a flush of 1,000 changes in 0.2 s at 1M customers, 0.5 s and 400 MB
    at 10M."""
    runs = {
        "state_upsert_1000_at_1000000": [0.15],
        "state_upsert_1000_at_10000000": [0.6],
        "state_upsert_rss_1000_at_10000000": [350.0],
    }
    sizes = (1_000_000, 10_000_000)
    started = datetime.now().astimezone()
    report = build_report(runs, {}, {}, started, 1.0, (), bench_figures(sizes))
    met = {t["figure"]: t["met"] for t in report["targets"] if t["figure"].startswith("state_")}
    assert met == {
        "state_freshness_p99": None,  # not measured in these runs
        "state_upsert_1000_at_1000000": True,
        "state_upsert_1000_at_10000000": False,
        "state_upsert_rss_1000_at_10000000": True,
    }
    small = build_report({}, {}, {}, started, 1.0, (), bench_figures((10_000,)))
    assert [t["figure"] for t in small["targets"] if t["figure"].startswith("state_upsert")] == []


def test_state_sizes_are_positive_integers() -> None:
    assert parse_sizes("10000,100000,1000000") == (10000, 100000, 1000000)
    for bad in ("", "10k", "100,0", "1,,2"):
        with pytest.raises(ValueError, match="positive integers separated by commas"):
            parse_sizes(bad)


def test_table_shows_every_figure_missing_ones_and_failures() -> None:
    figures = bench_figures(STATE_SIZES)
    report = build_report(
        {"baseline": [170.0]},
        {"repeat": 1},
        {},
        datetime.now().astimezone(),
        1.0,
        ["producer (run 1): boom"],
        figures,
    )
    table = format_table(report)
    # per size and flush size: time and peak RSS; per size, the compaction's time and peak RSS;
    # then the reader's two figures
    per_size = 2 * len(FLUSH_CHANGES) + 2
    assert len(figures) == len(FIGURES) + per_size * len(STATE_SIZES) + 2
    for figure in figures:
        assert figure.label in table
    assert "failed: producer (run 1): boom" in table
    assert f"{os.cpu_count()} cores" in table


def test_peer_figures_only_with_peers_each_beside_ours() -> None:
    assert bench_figures(STATE_SIZES, peers=True) == bench_figures(STATE_SIZES) + PEER_FIGURES
    runs = {"consumer_table": [800.0], "peer_table": [400.0], "table_freshness_p99": [2.0]}
    report = build_report(
        runs, {}, {}, datetime.now().astimezone(), 1.0, (), bench_figures(STATE_SIZES, True)
    )
    assert report["figures"]["peer_table"]["ratios"] == {"consumer_table": 0.5}
    assert report["figures"]["peer_freshness_p99"]["ratios"] == {}  # not measured
    assert "peer_table" not in build_report(runs, {}, {}, datetime.now(), 1.0)["figures"]


# `--peers` is left out: Kafka Connect's JVM alone took 60-70 s to start and drain 300 changes
# on the shared 2-core machine, more than this test may add to the suite.
@pytest.mark.slow
def test_small_bench_produces_every_figure(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "bench.json"
    args = [*SMALL, "--out", str(out), "--work-dir", str(tmp_path / "work")]
    output = cli.run("bench", *args, timeout=280).stdout

    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert report["version"] == 1
    assert report["machine"]["cpu_count"] == os.cpu_count()
    assert datetime.fromisoformat(report["date"]).tzinfo is not None
    assert report["settings"]["customers"] == 2000 and report["settings"]["repeat"] == 1
    assert list(report["figures"]) == FIGURE_NAMES
    for name, figure in report["figures"].items():
        assert set(figure) == {"label", "unit", "median", "runs", "ratios"}, name
        assert len(figure["runs"]) == 1, name
        assert isinstance(figure["median"], float) and figure["median"] > 0, name
        assert set(figure["ratios"]) == set(RATIOS.get(name, ())), name
        assert figure["label"] in output
    assert [(t["figure"], t["rule"]) for t in report["targets"]] == [
        (t.figure, t.rule) for t in targets(0.5) if t.figure in FIGURE_NAMES
    ], "every target whose figure this bench measures (state targets: at 1M and 10M only)"
    for target in report["targets"]:
        assert isinstance(target["met"], bool) and isinstance(target["threshold"], float), target
    assert set(report["details"]) == set(FIGURE_NAMES)
