"""Filters are pure decisions: keep a document, or drop it with a named reason that is counted.

A `Filter` looks at a document (a dict) or a batch of them and returns one `Decision` each; it
may add fields to the documents it keeps (a language, a score), and it may count what it saw
beyond its decisions (`count`: the languages met, a histogram). It knows nothing of Beam: the
pipelines apply lists of filters with `pipelines.stages.ApplyFilters`, which counts every drop
as `dropped_<reason>` under the filter's `name` (its stage in the report), routes rejects and
reports the counts, so a filter is tested and benchmarked on plain lists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple


@dataclass(frozen=True, slots=True)
class Decision:
    keep: bool
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.keep == (self.reason is not None):
            raise ValueError("a kept document has no reason; a dropped one must have one")

    @classmethod
    def drop(cls, reason: str) -> Decision:
        return cls(False, reason)


KEEP = Decision(True)


class Filter:
    """One stage's decision on documents. Subclasses set `name` and implement `decide`, or
    `decide_batch` when the model answers a batch at once."""

    name: ClassVar[str] = ""
    _counts: Counter | None = None

    def decide(self, doc: dict[str, Any]) -> Decision:
        raise NotImplementedError

    def decide_batch(self, docs: Sequence[dict[str, Any]]) -> list[Decision]:
        return [self.decide(doc) for doc in docs]

    def count(self, group: str, name: str, n: int = 1) -> None:
        """Count something besides the decisions: reported as `<group>/<name>`."""
        if self._counts is None:
            self._counts = Counter()
        self._counts[group, name] += n

    def take_counts(self) -> Counter:
        """What `count` gathered since the last call."""
        counts, self._counts = self._counts or Counter(), None
        return counts


class Applied(NamedTuple):
    kept: list[dict[str, Any]]
    dropped: list[tuple[dict[str, Any], Filter, Decision]]  # (document, filter, its decision)
    failed: list[tuple[dict[str, Any], Filter, Exception]]  # (document, filter, what it raised)


FAILED = "filter_error"  # the reason a document is dropped under when its filter raised


def _decide(stage: Filter, docs: list[dict[str, Any]]) -> list[Decision]:
    decisions = stage.decide_batch(docs)
    if len(decisions) != len(docs):
        raise ValueError(f"{stage.name}: {len(decisions)} decisions for {len(docs)} documents")
    return decisions


def apply(filters: Sequence[Filter], docs: Sequence[dict[str, Any]]) -> Applied:
    """Run `docs` through `filters` in order, as a pipeline stage does, without Beam.

    A filter that raises on a batch is asked again one document at a time, so that its bug or a
    hostile document costs that document (in `failed`), not the batch, and never the run."""
    kept = list(docs)
    dropped: list[tuple[dict[str, Any], Filter, Decision]] = []
    failed: list[tuple[dict[str, Any], Filter, Exception]] = []
    for stage in filters:
        if not kept:
            break
        try:
            decided = list(zip(kept, _decide(stage, kept), strict=True))
        except Exception:
            decided = []
            for doc in kept:
                try:
                    decided.append((doc, _decide(stage, [doc])[0]))
                except Exception as exc:
                    failed.append((doc, stage, exc))
        kept = []
        for doc, decision in decided:
            if decision.keep:
                kept.append(doc)
            else:
                dropped.append((doc, stage, decision))
    return Applied(kept, dropped, failed)


class MinLength(Filter):
    """Documents whose `field` has fewer than `min_chars` characters go, as `reason`."""

    name = "length"

    def __init__(self, min_chars: int, field: str = "text", reason: str = "too_short"):
        self.min_chars, self.field, self.drop = min_chars, field, Decision.drop(reason)

    def decide(self, doc: dict[str, Any]) -> Decision:
        return KEEP if len(doc[self.field]) >= self.min_chars else self.drop


class NotBlank(Filter):
    """Documents whose `field` holds nothing but whitespace go, as `empty`."""

    name = "empty"

    def __init__(self, field: str = "text"):
        self.field = field

    def decide(self, doc: dict[str, Any]) -> Decision:
        return KEEP if doc[self.field].strip() else Decision.drop("empty")
