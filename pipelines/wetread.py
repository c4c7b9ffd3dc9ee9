"""`ReadWet`: WET files → documents, for every pipeline that reads Common Crawl (CCNet, C4).

Each `conversion` record becomes a document through the pipeline's `to_document`; records the
reader could not parse are dead letters, counted as documents read and dropped under their
reason when a document had been recognised, as `input_errors` otherwise. A file that cannot be
fetched or opened at all is one dead letter and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam

from core.deadletter import DeadLetter
from pipelines import accounting, progress
from readers.warc import WarcRecord, dead_letter, iter_records
from readers.wet import segment_name

ToDocument = Callable[[WarcRecord, str], dict | None]  # (record, segment) → document or None


class ReadWet(beam.DoFn):
    """A WET file's path → its documents (main output) and "dead" letters."""

    def __init__(self, source: str, to_document: ToDocument, max_record_bytes: int):
        self.source, self.to_document = source, to_document
        self.max_record_bytes = max_record_bytes

    def process(self, path: str):
        try:
            yield from self._read(path)
        except OSError as exc:  # a file that cannot be fetched after every retry, or opened
            accounting.count(self.source, "read", "input_errors")
            error = f"{type(exc).__name__}: {exc}"
            yield beam.pvalue.TaggedOutput(
                "dead", dead_letter(path, 0, 0, "unreadable_file", error).to_record()
            )
        progress.add(done=1)

    def _read(self, path: str):
        segment = segment_name(path)
        for record in iter_records(path, max_record_bytes=self.max_record_bytes):
            if isinstance(record, DeadLetter):
                dead = accounting.count_dead(self.source, "read", record)
                yield beam.pvalue.TaggedOutput("dead", dead)
                continue
            doc = self.to_document(record, segment)
            if doc is None:
                continue  # warcinfo and other non-document records
            accounting.count(self.source, "read", "read")
            yield doc
