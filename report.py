"""``python report.py html|recommend|check ...``: the command line of ``reporting`` (see
``reporting/cli.py`` for the commands and their exit codes)."""

import sys

from reporting.cli import main

if __name__ == "__main__":
    sys.exit(main())
