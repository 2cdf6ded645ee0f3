"""The run-file contract: one record written and read by the same code, a format version
with an upgrade path for older files, one name per case, and saving that never loses or
half-writes a run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from reporting import gate
from runfile import (
    FORMAT_VERSION,
    REQUIRED_KEYS,
    CaseRecord,
    RunError,
    bench_info,
    case_name,
    load,
    read_json,
    save_run,
)

RESULTS = Path(__file__).resolve().parents[1] / "results"
WRITTEN_BEFORE_VERSIONS = RESULTS / "baseline-quick.json"  # format 1, committed 2026-11
WRITTEN_IN_FORMAT_2 = RESULTS / "findings-2026-12-01-standard.json"


def test_one_name_per_case() -> None:
    assert case_name("baseline", None) == "baseline"
    assert case_name("cached", "warm") == "cached/warm"
    assert case_name("cached", "warm", "dataframe", "small") == "cached/warm-dataframe-small"
    assert case_name("floor", None, "records", "source-head") == "floor-records-source-head"


def test_a_record_is_read_back_as_it_was_written() -> None:
    record = CaseRecord("parallel", "dask-w2", "dataframe", "small", 100_000, "ok",
                        peak_rss_bytes=300, start_rss_bytes=100, stored_bytes=0,
                        checksum="abc", evidence="8 task runs on 2 distinct dask workers",
                        memory_timeline=((0.0, 100), (0.5, 300)),
                        runner={"runner": "dask", "workers": 2, "movement": "frames",
                                "cluster": "here"}, rounds=(0.5, 0.7),
                        time_breakdown={"work": 0.2, "task_runner": 0.4},
                        memory_breakdown={"work": 150, "other": 50})
    info = record.extra_info()
    assert set(REQUIRED_KEYS) <= set(info) and info["rss_delta_bytes"] == 200
    entry = json.loads(json.dumps({"extra_info": info, "stats": {"data": [0.5, 0.7]}}))
    again = CaseRecord.from_entry(entry)
    assert again == record and again.runner == record.runner
    assert (again.name, again.median) == ("parallel/dask-w2-dataframe-small", 0.6)


def test_a_format_2_run_reads_without_breakdowns() -> None:
    run = load(WRITTEN_IN_FORMAT_2)
    assert run.format_version == 2 and len(run.cases) > 40
    assert {(c.time_breakdown, c.memory_breakdown, c.breakdown_note) for c in run.cases} \
        == {(None, None, None)}


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status 'great'"):
        CaseRecord("baseline", None, "dataframe", "small", 1, "great")


def test_a_run_written_before_format_versions_is_upgraded_on_read() -> None:
    raw = read_json(WRITTEN_BEFORE_VERSIONS)
    assert "format_version" not in raw["bench"]
    run = load(WRITTEN_BEFORE_VERSIONS)
    assert run.format_version == 1
    names = [case.name for case in run.cases]
    assert names == [entry["param"] for entry in raw["benchmarks"]]
    assert "baseline-records-tiny" in names and "cached/warm-dataframe-small" in names
    assert {case.evidence for case in run.cases} == {None}
    assert all(case.rss_delta_bytes == entry["extra_info"]["rss_delta_bytes"]
               for case, entry in zip(run.cases, raw["benchmarks"], strict=True))


def test_an_upgraded_run_gates_like_the_original(tmp_path: Path) -> None:
    """The same run saved in today's format reads as the same cases, and the gate sees no
    difference between the two."""
    raw = read_json(WRITTEN_BEFORE_VERSIONS)
    old = load(WRITTEN_BEFORE_VERSIONS)
    raw["bench"] = bench_info(**raw["bench"])
    raw["benchmarks"] = [{**entry, "extra_info": case.extra_info()}
                         for entry, case in zip(raw["benchmarks"], old.cases, strict=True)]
    saved = save_run(raw, tmp_path, complete=True)
    new = load(saved[-1])
    assert new.format_version == FORMAT_VERSION
    assert new.cases == old.cases
    result = gate.check(old, new)
    assert result.exit_code == 0 and not result.regressions, result.render()


def test_a_newer_format_or_a_missing_key_is_one_line(tmp_path: Path) -> None:
    raw = read_json(WRITTEN_BEFORE_VERSIONS)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**raw, "bench": {**raw["bench"],
                                                  "format_version": FORMAT_VERSION + 1}}))
    with pytest.raises(RunError, match="newer than this tool reads"):
        load(newer)
    broken = tmp_path / "broken.json"
    raw["benchmarks"][0]["extra_info"].pop("checksum")
    broken.write_text(json.dumps(raw))
    with pytest.raises(RunError, match=r"test_strategy.floor-dataframe-small.*checksum"):
        load(broken)


def test_a_file_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"benchmarks": []}')
    with pytest.raises(RunError, match="not a run of prefect-bigdata-bench"):
        read_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(RunError, match="cannot read"):
        read_json(tmp_path / "y.json")


def test_saving_leaves_no_partial_file(tmp_path: Path) -> None:
    class Unserializable:
        def __str__(self) -> str:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_run({"bench": bench_info(), "benchmarks": [Unserializable()]}, tmp_path, True)
    assert list(tmp_path.iterdir()) == []
    saved = save_run({"bench": bench_info(), "benchmarks": []}, tmp_path, complete=True)
    assert [p.name for p in saved][-1] == "latest.json"
    assert read_json(tmp_path / "latest.json")["bench"] == {"format_version": FORMAT_VERSION}
    partial = save_run({"bench": bench_info(), "benchmarks": []}, tmp_path / "p", False)
    assert len(partial) == 1 and partial[0].name.endswith("-interrupted.json")


def test_runs_saved_at_the_same_moment_each_keep_their_file(tmp_path: Path) -> None:
    """Eight threads save at once (many within the same microsecond stamp, some with the
    very same name): every run keeps its own file, and latest.json is one of them, whole."""
    barrier = threading.Barrier(8)
    saved: list[list[Path]] = []

    def save(number: int) -> None:
        barrier.wait()
        saved.append(save_run({"bench": bench_info(cores=number), "benchmarks": []},
                              tmp_path, True))

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = sorted(tmp_path.glob("run-*.json"))
    assert len(runs) == 8 and len({paths[0] for paths in saved}) == 8
    assert sorted(read_json(path)["bench"]["cores"] for path in runs) == list(range(8))
    assert read_json(tmp_path / "latest.json")["bench"]["cores"] in range(8)
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_a_run_never_replaces_a_file_of_the_same_name(tmp_path: Path) -> None:
    from runfile import write_text_atomic

    first = write_text_atomic("one", tmp_path / "run-x.json", overwrite=False)
    second = write_text_atomic("two", tmp_path / "run-x.json", overwrite=False)
    assert (first.name, second.name) == ("run-x.json", "run-x-2.json")
    assert (first.read_text(), second.read_text()) == ("one", "two")


def test_a_bench_object_has_only_its_keys() -> None:
    assert bench_info(profile="quick")["format_version"] == FORMAT_VERSION
    with pytest.raises(TypeError, match="not a key of the bench object: colour"):
        bench_info(colour="blue")
    with pytest.raises(ValueError, match="bench_info"):
        save_run({"bench": {"profile": "quick"}, "benchmarks": []}, Path("/nonexistent"), True)


def test_a_file_system_without_hard_links_still_keeps_every_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from runfile import write_text_atomic

    def no_links(*args: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    first = write_text_atomic("one", tmp_path / "run-x.json", overwrite=False)
    second = write_text_atomic("two", tmp_path / "run-x.json", overwrite=False)
    assert (first.read_text(), second.read_text()) == ("one", "two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-x-2.json", "run-x.json"]
