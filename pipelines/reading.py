"""`ReadInputs`: work items (input files, a repository, a WET file) → documents, for every
pipeline whose reader yields documents and dead letters.

`read(work)` yields documents (dicts), `DeadLetter`s, or None for records that are no document
(a WET `warcinfo`). A dead letter counts as a document read and dropped under its reason when a
document had been recognised, as an input error otherwise; an input that cannot be fetched or
opened at all (`errors`) is one dead letter and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam

from core.deadletter import DeadLetter
from pipelines import accounting, progress
from readers.warc import WarcRecord, iter_records
from readers.wet import segment_name

Reader = Callable[[Any], Iterable[dict | DeadLetter | None]]


def _identity(work: Any) -> str:
    return work


class ReadInputs(beam.DoFn):
    """A work item → its documents (main output) and "dead" letters; `path_of(work)` names the
    input in the dead letter of one that cannot be read."""

    def __init__(
        self,
        source: str,
        read: Reader,
        path_of: Callable[[Any], str] = _identity,
        errors: tuple[type[Exception], ...] = (OSError,),
    ):
        self.source, self.read, self.path_of, self.errors = source, read, path_of, errors

    def process(self, work: Any):
        try:
            for item in self.read(work):
                if item is None:
                    continue
                if isinstance(item, DeadLetter):
                    dead = accounting.count_dead(self.source, "read", item)
                    yield beam.pvalue.TaggedOutput("dead", dead)
                    continue
                accounting.count(self.source, "read", "read")
                yield item
        except self.errors as exc:  # fetched in vain after every retry, or not opened at all
            accounting.count(self.source, "read", "input_errors")
            error = f"{type(exc).__name__}: {exc}"
            dead = DeadLetter(self.path_of(work), 0, "unreadable_file", error)
            yield beam.pvalue.TaggedOutput("dead", dead.to_record())
        progress.add(done=1)


ToDocument = Callable[[WarcRecord, str], dict | None]  # (record, segment) → document or None


def wet_documents(
    to_document: ToDocument, max_record_bytes: int, path: str
) -> Iterable[dict | DeadLetter | None]:
    """A WET file's records as `to_document` makes them documents (CCNet's, C4's)."""
    segment = segment_name(path)
    for record in iter_records(path, max_record_bytes=max_record_bytes):
        yield record if isinstance(record, DeadLetter) else to_document(record, segment)
