"""The categories a stack's time or memory is given to (``runfile.TIME_CATEGORIES``), from
the modules and functions on it: one table of rules, :data:`RULES`, read by
:func:`category`. Strings only: nothing here imports Prefect or the workload.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

# The workload's own code: everything below these frames is the ET work itself (the
# guide's; another workload's module is added by ``count_as_work``).
WORKLOAD_MODULES = {"strategies.et"}

Frame = tuple[str, str]  # (module, function)

# (module or package, functions or None for all of them, category). A frame takes the
# category of its first matching rule; a stack takes its innermost categorised frame's,
# except that cache-key hashing claims all it calls (it serializes the inputs to hash them)
# and a frame matched only by the last rule (the rest of Prefect) yields to any other.
RULES: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    ("prefect.cache_policies", None, "hashing"),
    ("prefect.utilities.hashing", None, "hashing"),
    ("prefect.task_engine", frozenset({"compute_transaction_key"}), "hashing"),
    ("prefect.task_engine", frozenset({"_resolve_parameters"}), "introspection"),
    ("prefect.utilities.collections", None, "introspection"),
    ("prefect.utilities.annotations", None, "introspection"),
    ("prefect.utilities.engine", frozenset({
        "collect_task_run_inputs", "collect_task_run_inputs_sync", "resolve_inputs",
        "resolve_inputs_sync", "resolve_to_final_result", "get_state_for_result",
        "link_state_to_result", "link_state_to_flow_run_result",
        "link_state_to_task_run_result", "add_futures_and_states_to_inputs",
        "_raise_on_run_schema_unless_opaque"}), "introspection"),
    ("prefect.futures", frozenset({"resolve_futures_to_states", "resolve_futures_to_results",
                                   "_resolve_futures", "_collect_futures"}), "introspection"),
    ("prefect.serializers", None, "storage"),
    ("prefect.results", None, "storage"),
    ("prefect.filesystems", None, "storage"),
    ("prefect_aws", None, "storage"),
    ("strategies.disk", frozenset({"extract_to_disk", "transform_on_disk"}), "storage"),
    ("strategies.compressed", frozenset({"dumps", "loads"}), "storage"),
    ("prefect.task_runners", None, "task_runner"),
    ("prefect.futures", None, "task_runner"),
    ("prefect_dask", None, "task_runner"),
    ("prefect_ray", None, "task_runner"),
    ("distributed", None, "task_runner"),
    ("ray", None, "task_runner"),
    ("prefect", None, "orchestration"),
)
CLAIMING = frozenset({"hashing"})
WEAK = "orchestration"


def count_as_work(module: str) -> None:
    """Count ``module``'s frames as the ET work (a workload's module, once it is loaded)."""
    if module not in WORKLOAD_MODULES:
        WORKLOAD_MODULES.add(module)
        frame_category.cache_clear()


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@functools.lru_cache(maxsize=16384)
def frame_category(module: str, function: str) -> str | None:
    """The category of one frame (None: it says nothing on its own, e.g. pandas)."""
    if any(_in(module, workload) for workload in WORKLOAD_MODULES):
        return "work"
    function = function.rsplit(".", 1)[-1]  # memray names methods by qualified name
    for package, functions, name in RULES:
        if _in(module, package) and (functions is None or function in functions):
            return name
    return None


def category(stack: Sequence[Frame]) -> str:
    """The category of a stack (innermost frame first): see :data:`RULES`."""
    found, weak = None, False
    for module, function in reversed(stack):  # outermost first
        name = frame_category(module, function)
        if name is None or found in CLAIMING:
            continue
        if name == WEAK:
            weak = True
        else:
            found = name
    return found or (WEAK if weak else "other")


def runs_a_task(stack: Sequence[Frame]) -> bool:
    """Whether a thread with this stack is running a task (Prefect's task engine)."""
    return any(module == "prefect.task_engine" for module, _ in stack)
