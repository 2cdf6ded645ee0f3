"""Reading saved runs: the HTML report (``reporting.html``) and the regression gate
(``reporting.gate``), both on the same model of a run (``reporting.runs``)."""
