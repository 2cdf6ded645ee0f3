"""Prefect's levers as changes to the guide's flow, one object each, composable.

A :class:`Lever` applied to a case (:meth:`Lever.apply`) says what it changes in the
guide's ET flow (:class:`Change`): task options for both tasks, an annotation around
``transform``'s argument, or the disk tasks that pass paths; which storage it fills; which
of Prefect's internals it watches while the flow runs (:class:`Spy`); and how it proves,
after the run, that it took effect. A strategy is one lever (``quote``, ``nocache``...) or
several composed (:func:`compose`: the ``combined`` strategy), always the same objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from prefect import Flow
from prefect.task_engine import BaseTaskRunEngine

from strategies import et
from strategies.base import (
    Case,
    CaseFailed,
    Context,
    Outcome,
    Prepared,
    Storage,
    Strategy,
    stored_bytes,
)
from strategies.flowrun import FlowRun, prepare_flow
from strategies.tasks import et_flow


@dataclass
class Spy:
    """A witness of what Prefect does inside a flow: while the flow runs, each call of
    ``owner.name`` goes through unchanged and leaves a small fact, ``note(result, *args,
    **kwargs)`` (never the arguments themselves: a witness must not keep data alive). A
    note that fails never reaches Prefect: it is kept in ``errors``, and the case fails."""

    owner: Any
    name: str
    note: Callable[..., Any] = lambda *_, **__: None
    facts: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @contextmanager
    def watching(self) -> Iterator[None]:
        own = self.name in vars(self.owner)  # else inherited: deleted again afterwards
        original = getattr(self.owner, self.name)
        self.facts.clear()
        self.errors.clear()

        def spy(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            try:
                self.facts.append(self.note(result, *args, **kwargs))
            except Exception as err:
                self.errors.append(f"{type(err).__name__}: {err}")
            return result

        setattr(self.owner, self.name, spy)
        try:
            yield
        finally:
            if own:
                setattr(self.owner, self.name, original)
            else:
                delattr(self.owner, self.name)


def persisted_record(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The result record of a ``ResultStore.persist_result_record`` call (a spy's note gets
    the call's arguments after the store)."""
    return kwargs["result_record"] if "result_record" in kwargs else args[0]


def cache_keys() -> Spy:
    """A witness of the cache key Prefect computes for each task run: notes whether it
    computed one, and under which cache policy (a key is also missing when hashing failed:
    Prefect then logs it and goes on)."""
    return Spy(BaseTaskRunEngine, "compute_transaction_key",
               note=lambda key, engine, *_, **__: (key is not None,
                                                  type(engine.task.cache_policy).__name__))


Prove = Callable[[FlowRun, et.Payload], str]
"""The evidence that a lever took effect in a run (given its output), or ``NotApplied``."""


@dataclass
class Change:
    """What a lever changes in the guide's flow for one case, and how it proves itself."""

    prove: Prove
    options: dict[str, Any] = field(default_factory=dict)  # for both tasks
    wrap: Callable[[Any], Any] | None = None  # around transform's argument (quote, opaque)
    flow: Callable[..., Flow[..., Any]] | None = None  # other tasks (disk): (name, **options)
    parameters: dict[str, Any] = field(default_factory=dict)  # for that flow
    output: Callable[[Any], et.Payload] | None = None  # that flow's result as the payload
    storage: Storage | None = None  # emptied before each run; its bytes are stored bytes
    spies: tuple[Spy, ...] = ()


class Lever:
    """One of Prefect's levers. Subclasses set ``name`` and ``summary`` (and ``shapes``, the
    payload shapes it applies to) and apply it."""

    name: ClassVar[str]
    summary: ClassVar[str]
    shapes: ClassVar[tuple[str, ...]] = ("dataframe", "records")

    def apply(self, case: Case, ctx: Context) -> Change:
        raise NotImplementedError


def compose(levers: Sequence[Lever], case: Case, ctx: Context, flow_name: str) -> Prepared:
    """The guide's flow with every lever's change, verified by every lever's proof.

    ``CaseFailed`` when two levers change the same thing differently (two annotations, two
    sets of tasks, or the same task option set to two values)."""
    changes = [lever.apply(case, ctx) for lever in levers]
    options: dict[str, Any] = {}
    for change in changes:
        for key, value in change.options.items():
            if key in options and options[key] != value:
                raise CaseFailed(f"{' and '.join(lever.name for lever in levers)} both set "
                                 f"the task option {key}")
            options[key] = value
    wraps = [c.wrap for c in changes if c.wrap is not None]
    flows = [c for c in changes if c.flow is not None]
    if len(wraps) > 1 or len(flows) > 1 or (wraps and flows):
        raise CaseFailed(f"{', '.join(lever.name for lever in levers)}: more than one of "
                         "them changes transform's argument or the tasks")
    other = flows[0] if flows else None
    flow = (other.flow(flow_name, **options) if other and other.flow
            else et_flow(flow_name, wrap=wraps[0] if wraps else None, **options))
    storages = list(dict.fromkeys(c.storage for c in changes if c.storage))  # by place
    spies = [spy for change in changes for spy in change.spies]

    def reset() -> None:
        for storage in storages:
            storage.clear()

    def check(run: FlowRun, raw: Any) -> Outcome:
        broken = [f"{spy.name}: {spy.errors[0]}" for spy in spies if spy.errors]
        if broken:
            raise CaseFailed(f"a witness failed, so nothing is proven: {broken[0]}")
        output = other.output(raw) if other and other.output else raw
        evidence = [change.prove(run, output) for change in changes] or ["flow completed"]
        stored = sum(stored_bytes(storage) for storage in storages)
        return Outcome(output, stored, "; ".join(evidence))

    return prepare_flow(flow, case, check, reset if storages else None,
                        during=(lambda: watching(spies)) if spies else None,
                        **(other.parameters if other else {}))


@contextmanager
def watching(spies: Sequence[Spy]) -> Iterator[None]:
    """Every spy watching, for as long as the block runs."""
    with ExitStack() as stack:
        for spy in spies:
            stack.enter_context(spy.watching())
        yield


class LeverStrategy(Strategy):
    """A strategy whose variants are levers, or combinations of levers, applied to the
    guide's flow. ``levers`` maps each variant (None: the strategy has none) to its levers;
    a variant runs on the payload shapes all its levers apply to (of ``shapes``, when
    given)."""

    def __init__(self, name: str, summary: str, levers: dict[str | None, tuple[Lever, ...]],
                 shapes: tuple[str, ...] = ("dataframe", "records")) -> None:
        self.name = name  # type: ignore[misc]
        self.summary = summary  # type: ignore[misc]
        self.levers = levers
        self.variants = tuple(levers)  # type: ignore[misc]
        self.shapes = tuple(s for s in shapes  # type: ignore[misc]
                            if any(self.supports(v, s) for v in levers))

    def supports(self, variant: str | None, shape: str) -> bool:
        return all(shape in lever.shapes for lever in self.levers.get(variant, ()))

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        suffix = f"-{case.variant}".replace("+", "-") if case.variant else ""
        return compose(self.levers[case.variant], case, ctx, f"et-{self.name}{suffix}")
