"""The document schema, in one place: the columns every source writes, then each source's own.

A document shard (`<out>/<source>/documents/**/part-*.parquet`) has exactly these columns, in this
order (docs/design.md, "Documents"). Rows are checked before they are written: a missing or an
unexpected field is a `SchemaError`, never a column silently dropped or filled with nulls. A new
source adds its metadata columns to `SOURCE_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

COMMON_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.string()),  # stable and unique: cc/<segment>/<record>, wikipedia/<lang>/<page>, …
    ("text", pa.string()),
    ("source", pa.string()),
    ("url", pa.string()),
    ("title", pa.string()),
)

SOURCE_FIELDS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
    "commoncrawl": (
        ("digest", pa.string()),
        ("date_download", pa.string()),
        ("source_domain", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float64()),
        ("perplexity", pa.float64()),
        ("bucket", pa.string()),
        ("wiki_prob", pa.float64()),
        ("nlines", pa.int64()),
        ("original_nlines", pa.int64()),
        ("length", pa.int64()),
        ("original_length", pa.int64()),
        ("line_ids", pa.list_(pa.int32())),
        ("cc_segment", pa.string()),
    ),
    "wikipedia": (
        ("language", pa.string()),
        ("timestamp", pa.timestamp("s", tz="UTC")),
        ("page_id", pa.int64()),
        ("revision_id", pa.int64()),
    ),
    "c4": (
        ("timestamp", pa.timestamp("s", tz="UTC")),  # the crawl's WARC-Date
        ("split", pa.string()),  # train or validation (md5 of the normalised URL)
        ("cc_segment", pa.string()),  # built from WET: the file; published C4: null
        ("digest", pa.string()),  # built from WET: WARC-Block-Digest; published C4: null
    ),
    "github": (
        ("repo_name", pa.string()),
        ("path", pa.string()),
        ("license", pa.string()),  # SPDX id (or expression) of the repository's licence
        ("language", pa.string()),  # from the file extension
        ("size", pa.int64()),  # bytes of the raw file
        ("content_hash", pa.string()),  # md5 of the raw bytes, the exact-dedup key
        ("line_count", pa.int64()),
        ("max_line_length", pa.int64()),
        ("avg_line_length", pa.float64()),
        ("alnum_prop", pa.float64()),
        ("alpha_per_token", pa.float64()),
    ),
    "books": (
        ("collection", pa.string()),  # gutenberg, pg19, books3, or the user's name for it
        ("book_id", pa.string()),  # the collection's own id (Gutenberg number, line, ...)
        ("author", pa.string()),
        ("publication_date", pa.string()),  # as the collection gives it
    ),
    "arxiv": (
        ("arxiv_id", pa.string()),  # 2301.00001, or hep-th/9901001
        ("version", pa.int64()),  # when the source file name gives one
        ("month", pa.string()),  # yymm
        ("timestamp", pa.timestamp("s", tz="UTC")),  # the source's mtime in the archive
        ("main_file", pa.string()),  # the file with \documentclass
    ),
    "stackexchange": (
        ("site", pa.string()),  # cooking.stackexchange.com
        ("question_id", pa.int64()),
        ("question_score", pa.int64()),
        ("answer_scores", pa.list_(pa.int64())),  # in the text's order: highest first
        ("accepted_answer_id", pa.int64()),
    ),
}


class SchemaError(ValueError):
    """A row that does not have exactly its schema's fields: a bug in the stage that built it."""


def document_schema(source: str) -> pa.Schema:
    if source not in SOURCE_FIELDS:
        raise SchemaError(f"no document schema for source {source!r}; add it to core/schema.py")
    return pa.schema([*COMMON_FIELDS, *SOURCE_FIELDS[source]])


def check_row(schema: pa.Schema, row: Mapping[str, Any]) -> None:
    """Refuse a row whose fields are not exactly the schema's columns (values may be null)."""
    names = schema.names
    if len(row) == len(names) and all(name in row for name in names):
        return
    missing = [name for name in names if name not in row]
    unexpected = sorted(set(row) - set(names))
    raise SchemaError(
        f"row {row.get('id')!r}: missing fields {missing}, unexpected fields {unexpected} "
        f"(columns: {', '.join(names)})"
    )
