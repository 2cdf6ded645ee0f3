"""Reading saved runs: the HTML report (``reporting.html``), the recommendation
(``reporting.recommend``), the regression gate (``reporting.gate``) and the terminal tables
(``reporting.terminal``), all on the run file's own model of a run (``runfile``), cases
compared only within one workload (``reporting.cases``). Nothing here imports the harness or
Prefect."""
