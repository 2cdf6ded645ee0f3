"""The guide's two tasks and its flow, defined once. Strategies change one thing about them.

``et_flow(name, wrap, **task_options)`` is the guide's flow with Prefect task options
(result storage, serializer, cache policy...) applied to both tasks and an annotation
around ``transform``'s argument: the one-line changes that the levers make
(``strategies.levers``). The tasks run the case's workload (``strategies.workloads``: the
guide's extract and transform by default), named by a parameter, so that its cache keys
are its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import Flow, flow, task

from strategies import workloads


@task
def extract(source: str, shape: str = "dataframe", workload: str = workloads.DEFAULT) -> Any:
    """The guide's ``extract`` task."""
    return workloads.load(workload).extract_as(shape, source)


@task
def transform(data: Any, workload: str = workloads.DEFAULT) -> Any:
    """The guide's ``transform`` task."""
    return workloads.load(workload).transform_any(data)


def et_flow(name: str, wrap: Callable[[Any], Any] | None = None,
            **task_options: Any) -> Flow[..., Any]:
    """The guide's ET flow, with ``task_options`` applied to both tasks and ``wrap`` (an
    annotation such as ``quote``) around ``transform``'s argument."""
    extract_ = extract.with_options(**task_options) if task_options else extract  # before
    transform_ = transform.with_options(**task_options) if task_options else transform
    # Prefect 3.6.6, with_options() turned result persistence on

    @flow(name=name)
    def et_pipeline(source: str, shape: str = "dataframe",
                    workload: str = workloads.DEFAULT) -> Any:
        data = extract_(source, shape, workload)
        return transform_(wrap(data) if wrap else data, workload)

    return et_pipeline
