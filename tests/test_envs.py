"""bin/bench-ab's sides and environments (pairing/): parsing a side, the requirement set of
each side, cache keys, the environment cache's bookkeeping and a ref side's worktree.

No test installs a package: uv is replaced wherever an environment would be built."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pairing import envs, sides
from pairing.envs import Env, EnvError, Plan
from pairing.sides import Side, SideError

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = """\
[project]
name = "demo"
dependencies = ["prefect>=3.9,<3.10", "prefect-aws>=0.7", "prefect-dask>=0.3",
                "pandas>=3.1", "Jinja2>=3.1", "uv>=0.13"]
[project.optional-dependencies]
dev = ["ruff>=0.17"]
ray = ["prefect-ray>=0.6", "ray[default]>=2.60"]
"""
CONSTRAINTS = """\
apprise==2.0.1
Jinja2==3.1.6
numpy==2.4.6
pandas==3.1.1
prefect==3.9.1
prefect-aws==0.7.12
prefect-dask==0.3.7
prefect-ray==0.6.0
ray==2.60.0
ruff==0.17.6
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit of a pyproject.toml and a constraints.txt, a branch
    ``feature`` and a tag ``v1`` on it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch", "main")
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "constraints.txt").write_text(CONSTRAINTS)
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet",
         "-m", "one")
    _git(repo, "branch", "feature")
    _git(repo, "tag", "v1")
    return repo


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder in place of ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "prefect-bigdata-bench"


# -- sides -------------------------------------------------------------------------------

def test_a_prefect_version_is_a_version_side(repo: Path) -> None:
    assert sides.parse(" prefect==3.6.29 ", repo) == Side("version", "3.6.29",
                                                            "prefect==3.6.29")


@pytest.mark.parametrize("spec", ["prefect==3.6", "prefect==3.6.0rc1", "prefect-aws==0.7.4",
                                  "prefect>=3.6.0", "prefect=3.6.0", "prefect == 3.6.0"])
def test_another_version_form_says_how_to_write_one(repo: Path, spec: str) -> None:
    with pytest.raises(SideError) as raised:
        sides.parse(spec, repo)
    message = str(raised.value)
    assert message == (f"bench-ab: {spec}: a Prefect version is written prefect==X.Y.Z "
                       "(e.g. prefect==3.6.29)")


def test_an_empty_side_is_refused(repo: Path) -> None:
    with pytest.raises(SideError, match=r"^bench-ab: empty side"):
        sides.parse("  ", repo)


def test_branches_tags_and_commits_resolve_to_the_commit(repo: Path) -> None:
    commit = _git(repo, "rev-parse", "HEAD")
    assert sides.parse("feature", repo) == Side("ref", commit, f"ref feature ({commit[:7]})")
    assert sides.parse("v1", repo).value == commit
    assert sides.parse(commit[:9], repo) == Side("ref", commit, f"commit {commit[:7]}")


@pytest.mark.parametrize("ref", ["nope", "--all", "feature~5"])
def test_an_unknown_ref_is_one_line_naming_it(repo: Path, ref: str) -> None:
    with pytest.raises(SideError) as raised:
        sides.parse(ref, repo)
    assert str(raised.value) == f"bench-ab: {ref}: not a commit, branch or tag of {repo}"


def test_a_folder_that_is_no_repository_says_so(tmp_path: Path) -> None:
    with pytest.raises(SideError, match=r"^bench-ab: main: cannot read .* as a git repo"):
        sides.parse("main", tmp_path)


def test_pip_index_versions_output_is_read() -> None:
    output = "prefect (3.9.1)\nAvailable versions: 3.9.1, 3.9.0, 3.8.8\n  LATEST: 3.9.1\n"
    assert sides._listed_versions(output) == ["3.9.1", "3.9.0", "3.8.8"]
    assert sides._listed_versions("nothing") == []


def test_a_ref_side_needs_no_index(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sides, "index_versions", lambda *a: pytest.fail("asked the index"))
    sides.check_version(sides.parse("main", repo))


def test_a_version_missing_from_the_index_lists_the_newest(repo: Path) -> None:
    """Asks the package index (once per version), installs nothing."""
    try:
        sides.check_version(sides.parse("prefect==3.9.1", repo))
        with pytest.raises(SideError) as raised:
            sides.check_version(sides.parse("prefect==3.99.0", repo))
    except SideError as err:
        if "could not list" in str(err):
            pytest.skip(f"the package index is unreachable: {err}")
        raise
    message = str(raised.value)
    assert message.startswith("bench-ab: prefect==3.99.0: not in the package index "
                              "(available 3.x: 3.")
    assert "3.9.1" in message and "\n" not in message


# -- the requirement set -----------------------------------------------------------------

def test_a_version_side_moves_prefect_and_holds_the_measured_stack(repo: Path) -> None:
    plan = envs.plan(sides.parse("prefect==3.6.29", repo), repo)
    assert plan.requirements == ("prefect==3.6.29", "prefect-aws>=0.7", "prefect-dask>=0.3",
                                 "pandas>=3.1", "Jinja2>=3.1")
    assert plan.held == ("Jinja2==3.1.6", "numpy==2.4.6", "pandas==3.1.1", "ray==2.60.0")
    assert "apprise==2.0.1" in plan.preferred and "prefect-aws==0.7.12" in plan.preferred
    assert not any(pin.startswith("prefect==") for pin in plan.preferred)


def test_the_ray_extra_comes_with_ray(repo: Path) -> None:
    plan = envs.plan(sides.parse("prefect==3.6.29", repo), repo, ray=True)
    assert plan.requirements[-2:] == ("prefect-ray>=0.6", "ray[default]>=2.60")
    assert "ray==2.60.0" in plan.held and "prefect-ray==0.6.0" not in plan.held


def test_a_ref_side_uses_that_commits_files_as_pinned(repo: Path) -> None:
    side = sides.parse("v1", repo)
    (repo / "pyproject.toml").write_text(PYPROJECT.replace("pandas>=3.1", "pandas>=9"))
    plan = envs.plan(side, repo)
    assert plan.requirements[0] == "prefect>=3.9,<3.10" and "pandas>=3.1" in plan.requirements
    assert "uv>=0.13" not in plan.requirements
    assert plan.held == tuple(CONSTRAINTS.splitlines()) and plan.preferred == ()


def test_the_projects_own_version_plan_holds_its_pins() -> None:
    plan = envs.plan(Side("version", "3.6.29", "prefect==3.6.29"), ROOT)
    pins = envs._pins((ROOT / "constraints.txt").read_text())
    names = {envs.name_of(r) for r in plan.requirements}
    assert {"prefect", "prefect-aws", "prefect-dask", "pandas", "pytest-benchmark"} <= names
    assert {"uv", "ruff", "prefect-ray"}.isdisjoint(names)
    assert pins["pandas"] in plan.held and pins["numpy"] in plan.held
    assert pins["prefect-aws"] not in plan.held and pins["apprise"] not in plan.held


def test_plan_and_environment_keys_are_stable(repo: Path) -> None:
    side = sides.parse("prefect==3.6.29", repo)
    key = envs.plan(side, repo).key("/py")
    assert key == envs.plan(side, repo).key("/py") and len(key) == 16
    assert key != envs.plan(side, repo).key("/other-py")
    assert key != envs.plan(sides.parse("prefect==3.6.28", repo), repo).key("/py")
    resolved = "b==1\na==2\n"
    assert envs.env_key(resolved, "/py") == envs.env_key("a==2  # note\n\nb==1", "/py")
    assert envs.env_key(resolved, "/py") != envs.env_key(resolved, "/other-py")
    assert envs.env_key(resolved, "/py") != envs.env_key("a==2\nb==2\n", "/py")


def test_moved_pins_are_named() -> None:
    resolved = "apprise==1.13.1\npandas==3.1.1\n"
    assert envs.moved(["apprise==2.0.1", "pandas==3.1.1", "ruff==0.17.6"], resolved) == [
        "apprise 2.0.1 -> 1.13.1"]


def test_uvs_reason_is_its_first_line() -> None:
    plain = ("error: No solution found when resolving dependencies\n"
             "  cause: Because there is no version of prefect==3.99.0 and you require it.\n")
    fancy = ("  \u00d7 No solution found when resolving dependencies:\n"
             "  \u2570\u2500\u25b6 Because there is no version of prefect==3.99.0 and\n"
             "      you require it.\n")
    assert envs.uv_reason(plain) == "Because there is no version of prefect==3.99.0 and you "\
                                    "require it."
    assert envs.uv_reason(fancy) == "Because there is no version of prefect==3.99.0 and"
    assert envs.uv_reason("error: Failed to fetch\n") == "Failed to fetch"
    assert envs.uv_reason("") == "uv failed"


# -- resolving and the environment cache (uv replaced) -----------------------------------

def _no_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envs, "_uv", lambda *a, **k: pytest.fail("ran uv"))


def test_a_version_that_does_not_resolve_names_the_spec(
        repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(plan: Plan, python: Path, *, held: bool) -> str:
        raise envs._UvFailed(f"Because there is no version (held={held})")

    monkeypatch.setattr(envs, "_compile", fail)
    plan = envs.plan(sides.parse("prefect==3.99.0", repo), repo)
    with pytest.raises(EnvError) as raised:
        envs.resolve(plan, Path("/py"), "prefect==3.99.0", lambda line: None)
    assert str(raised.value) == ("bench-ab: prefect==3.99.0: does not install "
                                 "(Because there is no version (held=False))")


def test_held_pins_that_conflict_are_relaxed_and_reported(
        repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def compile_(plan: Plan, python: Path, *, held: bool) -> str:
        if held:
            raise envs._UvFailed("numpy conflicts")
        return "numpy==2.3.0\npandas==3.1.1\nprefect==3.6.0\n"

    monkeypatch.setattr(envs, "_compile", compile_)
    said: list[str] = []
    plan = envs.plan(sides.parse("prefect==3.6.0", repo), repo)
    resolved = envs.resolve(plan, Path("/py"), "prefect==3.6.0", said.append)
    assert "held pins relaxed, they conflict with it: numpy 2.4.6 -> 2.3.0" in said[1]
    monkeypatch.setattr(envs, "_compile", lambda *a, **k: pytest.fail("resolved twice"))
    assert envs.resolve(plan, Path("/py"), "prefect==3.6.0", said.append) == resolved


def _complete(path: Path, packages: dict[str, str]) -> None:
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").touch()
    (path / envs.MARKER).write_text(json.dumps({"packages": packages}))


def test_a_cached_environment_is_reused_without_uv(
        repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_uv(monkeypatch)
    monkeypatch.setattr(envs, "release_cutoff", lambda side: "2026-05-02T21:49:42Z")
    side = sides.parse("prefect==3.6.29", repo)
    python = envs.find_python()
    resolved = "pandas==3.1.1\nprefect==3.6.29\n"
    key = envs.plan(side, repo, exclude_newer="2026-05-02T21:49:42Z").key(str(python))
    (cache / "envs" / "resolved").mkdir(parents=True)
    (cache / "envs" / "resolved" / f"{key}.txt").write_text(resolved)
    path = cache / "envs" / envs.env_key(resolved, str(python))
    _complete(path, {"prefect": "3.6.29"})
    said: list[str] = []
    env = envs.prepare(side, repo, said.append, ray=False)
    assert env == Env(python=path / "bin" / "python", root=repo,
                      packages={"prefect": "3.6.29"}, label="prefect==3.6.29", path=path)
    assert said == [f"prefect==3.6.29: reusing environment {path}"]


def test_a_half_built_environment_is_removed_and_rebuilt(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cache / "envs" / "0123456789abcdef"
    (path / "lib").mkdir(parents=True)
    (path / "lib" / "partial.py").touch()

    def build(path: Path, resolved: str, python: Path, label: str, say) -> dict[str, str]:
        assert not path.exists()
        _complete(path, {"a": "1"})
        return {"a": "1"}

    monkeypatch.setattr(envs, "_build", build)
    said: list[str] = []
    assert envs._ensure(path, "a==1\n", Path("/py"), "x", said.append) == {"a": "1"}
    assert said == [f"x: removed a half-built environment {path}"]
    assert envs.finished(path) == {"a": "1"}
    assert not envs.discard_unfinished(path) and path.exists()


def test_only_unfinished_environments_are_discarded(tmp_path: Path) -> None:
    assert not envs.discard_unfinished(tmp_path / "absent")
    unfinished = tmp_path / "unfinished"
    (unfinished / "bin").mkdir(parents=True)
    assert envs.finished(unfinished) is None
    assert envs.discard_unfinished(unfinished) and not unfinished.exists()
    no_python = tmp_path / "no-python"
    no_python.mkdir()
    (no_python / envs.MARKER).write_text('{"packages": {}}')
    assert envs.finished(no_python) is None and not envs.discard_unfinished(no_python)


def test_a_second_builder_waits_for_the_lock(tmp_path: Path) -> None:
    lock, said, order = tmp_path / "env.lock", [], []

    def second() -> None:
        with envs._locked(lock, "second", said.append):
            order.append("second")

    with envs._locked(lock, "first", said.append):
        waiter = threading.Thread(target=second)
        waiter.start()
        deadline = time.monotonic() + 5
        while not said and time.monotonic() < deadline:
            time.sleep(0.01)
        order.append("first")
    waiter.join(timeout=5)
    assert order == ["first", "second"]
    assert said == ["second: waiting for another process building env"]


# -- a ref side's checkout ---------------------------------------------------------------

def test_a_ref_side_gets_a_worktree_reused_at_its_commit(repo: Path, cache: Path) -> None:
    side = sides.parse("feature", repo)
    said: list[str] = []
    path = envs.worktree(side, repo, said.append)
    assert path == cache / "worktrees" / side.value[:12]
    assert _git(path, "rev-parse", "HEAD") == side.value
    assert (path / "pyproject.toml").read_text() == PYPROJECT
    assert envs.worktree(side, repo, said.append) == path
    assert said[-1] == f"ref feature ({side.value[:7]}): reusing checkout {path}"
    (path / "pyproject.toml").write_text("changed")  # a changed checkout is made anew
    assert envs.worktree(side, repo, said.append) == path
    assert (path / "pyproject.toml").read_text() == PYPROJECT
    assert "checking out" in said[-1]


@pytest.mark.e2e
def test_the_plugin_args_load_the_harness_once_in_a_checkout_with_its_egg_info() -> None:
    """This checkout has the project's entry point (``pip install -e``): ``-p bench.plugin``
    alone would register the plugin twice."""
    command = [sys.executable, "-m", "pytest", *envs.PLUGIN_ARGS, "--collect-only", "-q",
               "bench"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "tests collected" in done.stdout


def test_a_version_side_resolves_as_on_its_release_day_but_for_the_held_pins(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    side = sides.parse("prefect==3.6.29", repo)
    dated = envs.plan(side, repo, exclude_newer="2026-05-02T21:49:42Z")
    assert dated.preferred == dated.held and "pandas==3.1.1" in dated.held
    assert dated.key("py") != envs.plan(side, repo).key("py")
    seen: list[list[str]] = []

    def fake_uv(args: list[str], cwd: Path, timeout: float) -> None:
        seen.append(args)
        (cwd / "out.txt").write_text("prefect==3.6.29\n")

    monkeypatch.setattr(envs, "_uv", fake_uv)
    envs._compile(dated, Path(sys.executable), held=True)
    args = seen[0]
    assert args[args.index("--exclude-newer") + 1] == "2026-05-02T21:49:42Z"
    assert f"pandas={envs.ANY_DATE}" in args and f"apprise={envs.ANY_DATE}" not in args


def test_the_release_cutoff_is_a_day_after_the_upload() -> None:
    try:
        cutoff = envs.release_cutoff(Side("version", "3.6.29", "prefect==3.6.29"))
    except EnvError as err:
        pytest.skip(f"the package index is unreachable: {err}")
    assert cutoff == "2026-05-02T21:49:42Z"
