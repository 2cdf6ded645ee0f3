"""``bin/bench-ab``'s pairing of two sides: what a side is (:mod:`pairing.sides`) and the
Python environment each side runs in (:mod:`pairing.envs`).

Imports neither the harness nor Prefect: it runs in the command's own process and builds
the environments in which each side's pytest session runs.
"""
