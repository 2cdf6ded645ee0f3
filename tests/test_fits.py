"""Predicting whether a case fits at a size it has not run (the xl profile's guard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import data
from bench.cases import Profile
from bench.fits import Observation, extrapolate, predict
from tests.processes import bench_pytest, clean_env, marker, no_survivors, report

MB = 1_000_000
XL_FILE = f"_{data.SIZES['xl']}_"  # in the name of the xl data file


def test_a_fixed_overhead_is_extrapolated_as_a_line() -> None:
    # 50 MB of overhead plus 100 bytes a row: a power law through these two points would
    # predict 377 MB at 10M rows; the line predicts the 1,050 MB it will take.
    points = [(100_000, 60.0), (1_000_000, 150.0)]
    assert extrapolate(points, 10_000_000) == pytest.approx(1_050.0)


def test_growth_faster_than_the_rows_is_extrapolated_as_a_power_law() -> None:
    points = [(10, 1.0), (100, 100.0)]  # quadratic
    assert extrapolate(points, 1_000) == pytest.approx(10_000.0)


def test_extrapolation_uses_the_two_largest_sizes_and_never_shrinks() -> None:
    assert extrapolate([(1, 500.0), (10, 10.0), (100, 20.0)], 1_000) == pytest.approx(120.0)
    assert extrapolate([(10, 30.0), (100, 20.0)], 1_000) == 20.0


def test_a_smaller_point_under_the_noise_is_extrapolated_as_a_line_only() -> None:
    points = [(100_000, 4.0), (1_000_000, 300.0)]  # MB: a power of 1.9 through noise
    assert extrapolate(points, 10_000_000) == pytest.approx(300.0 * 10**1.875, rel=1e-3)
    assert extrapolate(points, 10_000_000, noise=32.0) == pytest.approx(3_260.0)


def test_a_profile_guards_a_size_only_above_two_others() -> None:
    with pytest.raises(ValueError, match="two smaller sizes"):
        Profile("bad", ("small", "xl"), budget_s=1.0, guarded=("xl",))


@pytest.mark.parametrize("points", [[(10, 1.0)], [(10, 1.0), (10, 2.0)]])
def test_extrapolation_needs_two_sizes(points: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError, match="two"):
        extrapolate(points, 100)


POINTS = [Observation(100_000, 120 * MB, 20 * MB, 0.2),
          Observation(1_000_000, 120 * MB, 200 * MB, 2.0)]


def test_a_case_that_fits_has_no_reason_and_keeps_its_figures() -> None:
    found = predict(POINTS, 10_000_000, memory_cap=3_000 * MB, available=5_000 * MB,
                    timeout=600)
    assert found.reason is None
    assert (found.growth, found.peak) == (2_000 * MB, 2_120 * MB)
    assert found.seconds == pytest.approx(20.0)
    assert found.record()["from_rows"] == [100_000, 1_000_000]


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        ({"memory_cap": 2_000 * MB}, "predicted peak 2,120 MB (the process tree's, before the "
                                     "flow 120 MB) is over the memory cap of 2,000 MB"),
        ({"available": 1_500 * MB}, "predicted growth 2,000 MB is over the 1,500 MB of memory "
                                    "available"),
        ({"timeout": 10.0}, "predicted 20 s per run is over the case time limit of 10 s"),
    ],
    ids=["memory-cap", "available", "time-limit"],
)
def test_a_case_over_a_limit_says_which_and_from_what(limits: dict, says: str) -> None:
    found = predict(POINTS, 10_000_000, **{"memory_cap": 3_000 * MB, "available": 5_000 * MB,
                                           "timeout": 600, **limits})
    assert found.reason == (f"not run at 10,000,000 rows: {says} (extrapolated from its "
                            "memory runs at 100,000 and 1,000,000 rows)")


def test_no_time_limit_never_skips_on_time() -> None:
    assert predict(POINTS, 10**9, memory_cap=10**15, available=10**15, timeout=None).reason \
        is None


@pytest.mark.e2e
@pytest.mark.slow
def test_xl_profile_skips_what_would_not_fit_and_says_why(tmp_path: Path) -> None:
    """Only the xl cases selected (-k): floor's memory runs at the smaller sizes come
    first; under a 1,500 MB cap floor at 10M rows (about 3.5 GB) is predicted not to fit.
    The skip is recorded with its prediction, without generating the 10M-row file, and
    reported. baseline is then skipped too: floor's output is its reference checksum."""
    results, session, cached = tmp_path / "results", marker(), tmp_path / "data"
    cached.mkdir()  # the data cache, without any 10M-row file
    for path in data.cache_dir().iterdir():
        if XL_FILE not in path.name:
            (cached / path.name).symlink_to(path)
    process = bench_pytest("--bench-profile", "xl", "--bench-strategies", "floor,baseline",
                           "-k", "xl",
                           "--bench-memory-cap", "1500", f"--bench-results={results}", "-rs",
                           env=clean_env(session, BENCH_DATA_DIR=str(cached)))
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    assert "floor-dataframe-xl: first a memory run at medium" in output
    assert "floor-dataframe-xl: not run at 10,000,000 rows" in output
    assert "baseline-dataframe-xl: not run at 10,000,000 rows: floor, whose output is the " \
        "reference checksum, is not run there (skipped)" in output
    assert "baseline-dataframe-xl: first a memory run" not in output
    assert no_survivors(session) == []  # the forkserver ends once it sees the run's end
    assert not [path for path in cached.iterdir() if XL_FILE in path.name]
    floor, baseline = json.loads((results / "latest.json").read_text())["benchmarks"]
    info = floor["extra_info"]
    assert (info["status"], info["rows"], info["peak_rss_bytes"]) == ("skipped", 10**7, None)
    assert "over the memory cap of 1,500 MB" in info["reason"]
    assert info["prediction"]["peak_rss_bytes"] > 1_500 * MB
    assert info["prediction"]["from_rows"] == [100_000, 1_000_000]
    assert baseline["extra_info"]["status"] == "skipped"
    assert "prediction" not in baseline["extra_info"]
    html = report("html", str(results / "latest.json"), "-o", str(tmp_path / "r.html"))
    assert html.returncode == 0, html.stderr
    assert "over the memory cap of 1,500 MB" in (tmp_path / "r.html").read_text()


@pytest.mark.e2e
@pytest.mark.slow
def test_a_guarded_size_runs_where_predicted_to_fit_and_fails_as_a_smaller_one_did(
        tmp_path: Path) -> None:
    """A test profile guards 1M rows: floor is predicted to fit and runs; hog (3 GB at any
    size) runs out of memory at 10k rows, so it has no prediction and fails as it did."""
    results, session = tmp_path / "results", marker()
    process = bench_pytest("--bench-profile", "guarded", "-p", "tests.fault_strategies",
                           "--bench-strategies", "floor,hog", "-k", "medium",
                           "--bench-memory-cap", "1500", f"--bench-results={results}",
                           env=clean_env(session))
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 1, output[-3000:]  # hog failed
    cases = {b["extra_info"]["strategy"]: b["extra_info"]
             for b in json.loads((results / "latest.json").read_text())["benchmarks"]}
    floor, hog = cases["floor"], cases["hog"]
    assert "floor-dataframe-medium: predicted to fit: peak" in output
    assert (floor["status"], floor["rows"]) == ("ok", 1_000_000)
    assert floor["prediction"]["from_rows"] == [10_000, 100_000]
    assert floor["prediction"]["peak_rss_bytes"] < 1_500 * MB
    assert hog["status"] == "failed" and "prediction" not in hog
    assert hog["reason"].startswith("not run at 1,000,000 rows: its memory run at tiny was "
                                    "failed (out of memory")
