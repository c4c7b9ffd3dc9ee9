"""`ApplyFilters`: the one Beam transform that runs filters (filters.base.Filter) over documents;
`FirstBy`: the one rule that picks among exact duplicates.

Each drop is counted as `dropped_<reason>` under its stage (the filter's name, or the group the
pipeline asks for, such as a language), and with `write_rejects` the dropped document's id and
reason go to the "rejects" output. What filters count beyond their decisions (languages seen,
histograms) becomes counters too. `kept` is not counted here: a document is kept once, where it
is written, so that read = kept + Σ dropped over the whole run.

Filters whose models are heavy are built per DoFn instance from one shared, per-process load
(`load`, through Beam `Shared`): the models are loaded once per worker process, and each thread
has its own filter objects, hence its own counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import apache_beam as beam
from apache_beam.utils.shared import Shared

from core.deadletter import DeadLetter
from filters.base import FAILED, Filter, apply
from pipelines import accounting

Group = str | Callable[[dict[str, Any]], str] | None


def _instances(classes: tuple[type[Filter], ...]) -> list[Filter]:
    return [cls() for cls in classes]


def each(*classes: type[Filter]) -> Callable[[], list[Filter]]:
    """`make` for filters built without arguments: one of each class per DoFn instance."""
    return partial(_instances, classes)


class _Loaded:
    """A weak-referenceable holder of whatever `load` returned (Beam `Shared` needs one)."""

    def __init__(self, value: Any):
        self.value = value


class _ApplyFilters(beam.DoFn):
    def __init__(
        self,
        namespace: str,
        make: Callable[..., Sequence[Filter]],
        load: Callable[[], Any] | None,
        group: Group,
        batched: bool,
        write_rejects: bool,
        reject_fields: Sequence[str],
    ):
        self.namespace, self.make, self.load, self.group = namespace, make, load, group
        self.batched, self.write_rejects = batched, write_rejects
        self.reject_fields = tuple(reject_fields)
        self._shared = Shared()

    def setup(self):
        if self.load is None:
            self.filters = list(self.make())
        else:
            # Keep a reference to the holder: Shared frees it when none is left.
            self._loaded = self._shared.acquire(lambda: _Loaded(self.load()))
            self.filters = list(self.make(self._loaded.value))

    def _group(self, doc: dict, stage: Filter) -> str:
        if self.group is None:
            return stage.name
        return self.group if isinstance(self.group, str) else self.group(doc)

    def process(self, element):
        applied = apply(self.filters, element if self.batched else [element])
        for doc, stage, decision in applied.dropped:
            yield from self._drop(doc, stage, decision.reason)
        for doc, stage, exc in applied.failed:
            yield from self._drop(doc, stage, FAILED)
            dead = DeadLetter(
                str(doc.get("file") or doc.get("id")),
                0,
                FAILED,
                f"{type(exc).__name__}: {exc}",
                True,
                {"id": doc.get("id"), "stage": stage.name},
            )
            yield beam.pvalue.TaggedOutput("dead", dead.to_record())
        for stage in self.filters:
            for (group, name), n in stage.take_counts().items():
                accounting.count(self.namespace, group, name, n)
        yield from applied.kept

    def _drop(self, doc: dict, stage: Filter, reason: str):
        accounting.count(self.namespace, self._group(doc, stage), f"dropped_{reason}")
        if self.write_rejects:
            reject = {k: doc.get(k) for k in self.reject_fields}
            yield beam.pvalue.TaggedOutput("rejects", {**reject, "reason": reason})


class ApplyFilters(beam.PTransform):
    """Documents (or, `batched`, lists of them) → the kept documents (main output); with
    `write_rejects`, "rejects": `reject_fields` of each dropped document and its `reason`; and
    "dead": a dead letter for each document a filter raised on (dropped as `filter_error`).

    `make()` returns the filters, in order; with `load`, `make(load())` does, `load` running
    once per worker process. `group`: where drops are counted (default: each filter's name).
    """

    def __init__(
        self,
        namespace: str,
        make: Callable[..., Sequence[Filter]],
        *,
        load: Callable[[], Any] | None = None,
        group: Group = None,
        batched: bool = False,
        write_rejects: bool = False,
        reject_fields: Sequence[str] = ("id", "url"),
    ):
        super().__init__()
        self.fn = _ApplyFilters(namespace, make, load, group, batched, write_rejects, reject_fields)

    def expand(self, documents):
        outputs = ("rejects", "dead")
        return documents | beam.ParDo(self.fn).with_outputs(*outputs, main="documents")


class FirstBy(beam.CombineFn):
    """Exact duplicates (one key): the document first by `order(doc)`, how many there were and,
    with `others`, the ids of the rest (for rejects).

    The winner does not depend on the order documents arrive in, so reruns and runners agree."""

    def __init__(self, order: Callable[[dict[str, Any]], Any], others: bool = False):
        self.order, self.others = order, others

    def create_accumulator(self):
        return None, 0, []

    def _better(self, doc, best) -> bool:
        return best is None or self.order(doc) < self.order(best)

    def add_input(self, acc, doc):
        best, n, others = acc
        if self._better(doc, best):
            best, doc = doc, best
        if doc is not None and self.others:
            others.append(doc["id"])
        return best, n + 1, others

    def merge_accumulators(self, accumulators):
        best, total, others = None, 0, []
        for doc, n, more in accumulators:
            total += n
            others.extend(more)
            if doc is not None and self._better(doc, best):
                doc, best = best, doc
            if doc is not None and self.others:
                others.append(doc["id"])
        return best, total, others

    def extract_output(self, acc):
        best, n, others = acc
        return best, n, sorted(others)


def first_of_duplicates(element, source: str, stage: str, reason: str, write_rejects: bool):
    """After CombinePerKey(FirstBy(order, others=write_rejects)): count the copies dropped under
    `reason`, send their rejects (tagged "rejects": id, reason, the id kept) and yield the kept
    document."""
    _, (doc, copies, others) = element
    if copies > 1:
        accounting.count(source, stage, f"dropped_{reason}", copies - 1)
        if write_rejects:
            for other in others:
                reject = {"id": other, "reason": reason, "kept": doc["id"]}
                yield beam.pvalue.TaggedOutput("rejects", reject)
    yield doc
