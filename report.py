"""HTML report and regression gate: not built yet (see the open issues).

Planned: ``python report.py html RUN.json ...`` and ``python report.py check BASE RUN``.
Until then this stub says so and leaves the run file as the result.
"""

import sys

if __name__ == "__main__":
    runs = [arg for arg in sys.argv[2:] if arg.endswith(".json")]
    print("report.py: the HTML report is not built yet; the run is saved as "
          f"{', '.join(runs) or 'results/latest.json'} (pytest-benchmark JSON).",
          file=sys.stderr)
    sys.exit(0)
