"""The published C4 (`allenai/c4`, `en`): `c4-{train,validation}.NNNNN-of-NNNNN.json.gz` files
of JSON lines with `text`, `timestamp` and `url`, as documents.

This is what RedPajama took for LLaMA's C4 share: the files as published, reformatted, nothing
filtered. A record without text or URL, or with a field of the wrong type, is a dead letter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from core.deadletter import DeadLetter
from readers.jsonl import DEFAULT_MAX_LINE_BYTES, bounded_dead_letters, read_jsonl

_NAME = re.compile(r"c4-(train|validation)\.(\d+)-of-(\d+)\.json(?:\.gz)?$")


def split_of_file(path: str) -> str:
    """`train` or `validation`, from the published file name (train when it does not say)."""
    found = _NAME.search(path)
    return found.group(1) if found else "train"


def file_key(path: str) -> str:
    """The id prefix of a file's documents: its name without `.json.gz`."""
    name = path.rsplit("/", 1)[-1]
    return name.removesuffix(".gz").removesuffix(".json")


def parse_timestamp(value: str | None) -> datetime | None:
    """C4's and WARC's `2019-04-25T12:57:54Z` (None when absent or not a date)."""
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


@bounded_dead_letters
def read_published(
    path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[dict | DeadLetter]:
    """Each record of a published C4 file as {id, text, url, timestamp, split, file}."""
    key, split = file_key(path), split_of_file(path)
    for item in read_jsonl(path, max_line_bytes):
        if isinstance(item, DeadLetter):
            yield item
            continue
        number, record = item
        text, url, stamp = record.get("text"), record.get("url"), record.get("timestamp")
        if not (isinstance(text, str) and isinstance(url, str) and text and url) or not (
            stamp is None or isinstance(stamp, str)
        ):
            error = (
                "text and url must be non-empty strings and timestamp a string; "
                f"fields: {sorted(record)}"
            )
            yield DeadLetter(path, 0, "bad_record", error, True, {"line": number})
            continue
        yield {
            "id": f"c4/{key}/{number}",
            "text": text,
            "url": url,
            "timestamp": parse_timestamp(stamp),
            "split": split,
            "file": path,
        }
