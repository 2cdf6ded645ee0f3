"""bin/bench-ab end to end, without building an environment (no package is installed by a
test): both sides run in this project's own environment, as two real pytest sessions with
their own services, paired through the coordinator; bad sides stop it in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pairing import ab
from pairing.envs import Env
from pairing.sides import Side
from runfile import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _not_this_sessions_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sides started from this test process would inherit its Prefect isolation (one home,
    one server address for both): bin/bench-ab's own process never has one."""
    for name in ("PREFECT_BIGDATA_BENCH_HOME", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)


def _job(tmp_path: Path, python_b: Path | None = None,
         select: str = "baseline and dataframe") -> ab.Job:
    here = Path(sys.executable)
    envs = {"A": Env(here, ROOT, {}, "this checkout (A)", here.parent.parent),
            "B": Env(python_b or here, ROOT, {}, "this checkout (B)", here.parent.parent)}
    sides = {name: Side("ref", "HEAD", env.label) for name, env in envs.items()}
    folder = tmp_path / "ab"
    folder.mkdir()
    return ab.Job(folder, sides, envs, ["-k", select], blocks=6,
                  rounds_per_block=2, budget_s=20.0)


@pytest.mark.e2e
def test_two_sides_take_turns_and_the_pair_is_gated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BENCH_PROFILE", "smoke")
    job = _job(tmp_path)
    codes = ab._measure(job)
    assert codes == {"A": 0, "B": 0}
    a, b = (load(job.folder / side / "latest.json") for side in "AB")
    assert a.pairing["side"] == "A" and b.pairing["side"] == "B"
    assert a.pairing["id"] == b.pairing["id"] and a.pairing["rounds_per_block"] == 2
    for run in (a, b):
        case = next(c for c in run.cases if c.strategy == "baseline")
        assert case.ok and case.paired_blocks is not None
        assert len(case.paired_blocks) == 6  # --blocks: a short case's blocks
        assert 6 <= len(case.rounds) <= 2 * 6  # (a round that met a retried request: out)
        assert "in blocks of 2, taking turns with side" in (case.rounds_reason or "")
        assert run.bench["packages"]["prefect"] and run.bench["prefect_defaults"]
    assert ab._conclude(job, codes) in (0, 1)  # the gate's verdict on noise: either
    out = capsys.readouterr().out
    assert "paired runs (bin/bench-ab)" in out and (job.folder / "report.html").is_file()
    assert "in blocks of 2, taking turns with side B (this checkout (B))" in out  # progress
    summary = json.loads((job.folder / "ab.json").read_text())
    assert summary["sides"]["B"]["run"].endswith("B/latest.json")


@pytest.mark.e2e
@pytest.mark.slow
def test_a_side_that_fails_leaves_the_other_sides_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BENCH_PROFILE", "smoke")
    job = _job(tmp_path, python_b=Path("/bin/false"),  # B's interpreter exits at once
               select="floor and dataframe")
    codes = ab._measure(job)
    assert codes["A"] == 0 and codes["B"] != 0
    assert ab._conclude(job, codes) == 2
    run = load(job.folder / "A" / "latest.json")
    assert run.cases and all(case.paired_blocks is None for case in run.cases)  # alone
    assert "side B (this checkout (B)) left no complete run" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "says"), [
    (["prefect==3.99.0", "HEAD"], "prefect==3.99.0"),
    (["HEAD", "no-such-branch-xyz"], "no-such-branch-xyz"),
    (["prefect=3.9.1", "HEAD"], "prefect=3.9.1"),
    (["HEAD", "HEAD", "--blocks", "2"], "--blocks"),
])
def test_a_bad_side_or_option_stops_before_any_run_in_one_line(
        args: list[str], says: str, capsys: pytest.CaptureFixture[str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*_: object, **__: object) -> None:
        raise AssertionError("an environment was built")

    monkeypatch.setattr(ab, "prepare", no_build)
    try:
        code = ab.main([*args, f"--bench-results={tmp_path}"])
    except AssertionError:
        pytest.fail("bench-ab got as far as building an environment")
    err = capsys.readouterr().err
    if "could not list" in err:
        pytest.skip("the package index is unreachable")
    assert code == 4
    assert len(err.strip().splitlines()) == 1 and says in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_usage_without_two_sides(capsys: pytest.CaptureFixture[str]) -> None:
    assert ab.main(["HEAD"]) == 4
    assert "usage: bin/bench-ab A B" in capsys.readouterr().err


def test_a_commit_that_predates_bench_ab_is_refused_before_any_build() -> None:
    root = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.split()[0]
    with pytest.raises(ValueError, match="none \\(it predates bin/bench-ab\\)") as err:
        ab._check_protocol(Side("ref", root, "commit 0123abc"))
    assert "commit 0123abc" in str(err.value) and "\n" not in str(err.value)


def test_a_commit_speaking_another_protocol_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    head = Side("ref", "HEAD", "ref HEAD")
    if subprocess.run(["git", "show", "HEAD:pairing/client.py"], cwd=ROOT,
                      capture_output=True, check=False).returncode:
        pytest.skip("HEAD has no pairing/client.py yet (an uncommitted checkout)")
    ab._check_protocol(head)  # this commit's own: accepted
    monkeypatch.setattr(ab.client, "PROTOCOL", 99)
    with pytest.raises(ValueError, match="coordinator protocol 99; it has protocol 1"):
        ab._check_protocol(head)
    ab._check_protocol(Side("version", "3.9.1", "prefect==3.9.1"))  # runs this checkout


def test_benchmark_json_is_refused_and_paths_made_absolute(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--benchmark-json"):
        ab._own_options(["--benchmark-json", "x.json"])
    rest, results, blocks, per_block, budget = ab._own_options(
        ["--bench-source", "data.parquet", "--blocks=4", f"--bench-results={tmp_path}", "-k",
         "baseline", "--bench-workload=heavy,my/w.py", "--budget", "5"])
    assert rest[0] == f"--bench-source={Path('data.parquet').resolve()}"
    assert rest[1:3] == ["-k", "baseline"]
    assert rest[3] == f"--bench-workload=heavy,{Path('my/w.py').resolve()}"
    assert (results, blocks, per_block, budget) == (tmp_path, 4, 3, 5.0)
