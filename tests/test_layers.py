"""The layering rules hold: import-linter's contracts (pyproject.toml) catch a strategy
that imports the harness, and Prefect is never imported before its settings are isolated
(the harness makes them when the ``bench`` package is imported) nor by the report side."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.isolation import HOME_ENV

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

WATCH_PREFECT = f"""
import importlib.abc, os, sys
seen = []  # whether the run's isolation existed when Prefect was first imported
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "prefect" and not seen:
            seen.append(bool(os.environ.get({HOME_ENV!r})))
        return None
sys.meta_path.insert(0, Watch())
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("module", ["bench.plugin", "bench.__main__", "bench.services.dask"])
def test_prefect_is_imported_only_after_isolation(module: str) -> None:
    """Importing any harness module isolates first: the ``bench`` package does it."""
    done = _python(f"{WATCH_PREFECT}\nimport importlib\nimportlib.import_module({module!r})\n"
                   "print(seen)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True]", "Prefect was imported before isolation"


def test_the_report_side_never_imports_prefect() -> None:
    done = _python("import sys, report, reporting.cli, reporting.html, reporting.gate\n"
                   "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                   "('prefect', 'bench', 'strategies', 'distributed')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")
def test_a_strategy_that_imports_the_harness_breaks_a_contract(tmp_path: Path) -> None:
    """The contracts run on a copy of the code in which one strategy imports bench."""
    for name in ("bench", "strategies", "reporting", "runfile"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    baseline = tmp_path / "strategies" / "baseline.py"
    baseline.write_text("import bench.data  # noqa: F401\n" + baseline.read_text())
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tmp_path,
                          env=env, text=True, capture_output=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "strategies is not allowed to import bench" in done.stdout
    assert "strategies.baseline -> bench.data" in done.stdout


def test_settings_that_change_prefects_defaults_are_left_out() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_TASKS_DEFAULT_NO_CACHE"] = "true"
    done = subprocess.run([sys.executable, "-c", "import os, bench.isolation as i; "
                           "print(i.IGNORED, 'PREFECT_TASKS_DEFAULT_NO_CACHE' in os.environ)"],
                          cwd=ROOT, env=env, text=True, capture_output=True, timeout=60)
    assert done.stdout.strip() == "['PREFECT_TASKS_DEFAULT_NO_CACHE'] False", done.stderr
