"""JSON lines, plain or gzip, local or on any Beam file system, read with bounded memory.

Published corpora (C4's `c4-train.*.json.gz`, a BigQuery export) are JSON lines. A line is read in
chunks and given up once it passes `max_line_bytes`: the rest of it is skipped without being
held, so a hostile 100 MB line costs one dead letter and a bounded buffer. A line that is not a
JSON object, a corrupt gzip stream or a truncated file are dead letters too; what was read
before them is kept.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import IO, Any

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from core.deadletter import DeadLetter

DEFAULT_MAX_LINE_BYTES = 8 << 20
_CHUNK = 1 << 20


def _lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number from 1, byte offset, the line without its newline, or None when it is longer
    than `max_line_bytes`: then its bytes are dropped as they are read)."""
    number, offset = 0, 0
    while True:
        piece = stream.readline(_CHUNK)
        if not piece:
            return
        number += 1
        size, kept = len(piece), [piece]
        while not piece.endswith(b"\n"):
            piece = stream.readline(_CHUNK)
            if not piece:
                break
            size += len(piece)
            if kept and size > max_line_bytes + 1:
                kept = []
            elif kept:
                kept.append(piece)
        line = b"".join(kept).rstrip(b"\r\n")
        too_long = not kept or len(line) > max_line_bytes
        yield number, offset, None if too_long else line
        offset += size


def _open(path: str) -> IO[bytes]:
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw


def read_jsonl(
    path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, dict[str, Any]] | DeadLetter]:
    """(line number, object) for each line of `path`; DeadLetter for what cannot be one.

    The offset of a dead letter is the line's byte offset in the uncompressed stream, and its
    details hold the line number. Blank lines are skipped."""
    try:
        stream = _open(path)
    except OSError as exc:
        yield DeadLetter(path, 0, "unreadable_file", f"{type(exc).__name__}: {exc}")
        return
    number, offset = 0, 0
    with stream:
        try:
            for number, offset, line in _lines(stream, max_line_bytes):
                where = {"line": number}
                if line is None:
                    error = f"line longer than {max_line_bytes} bytes"
                    yield DeadLetter(path, offset, "too_large", error, True, where)
                    continue
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as exc:  # bad JSON and invalid UTF-8 alike
                    reason = "invalid_utf8" if isinstance(exc, UnicodeDecodeError) else "bad_json"
                    yield DeadLetter(path, offset, reason, str(exc)[:200], True, where)
                    continue
                if not isinstance(value, dict):
                    error = f"a JSON {type(value).__name__}, not an object"
                    yield DeadLetter(path, offset, "bad_json", error, True, where)
                    continue
                yield number, value
        except (OSError, EOFError, zlib.error) as exc:  # corrupt or truncated gzip
            where = {"after_line": number}
            error = f"{type(exc).__name__}: {exc}"
            yield DeadLetter(path, offset, "unreadable_file", error, False, where)
