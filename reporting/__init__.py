"""Reading saved runs: the HTML report (``reporting.html``), the regression gate
(``reporting.gate``) and the terminal tables (``reporting.terminal``), all on the run file's
own model of a run (``runfile``). Nothing here imports the harness or Prefect."""
